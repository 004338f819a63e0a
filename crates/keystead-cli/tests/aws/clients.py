"""Real AWS clients against a running Keystead: boto3, the aws CLI and the AWS Encryption SDK.

Run by crates/keystead-cli/tests/it/aws.rs with the endpoint, two access keys (a key custodian's
and a crypto user's) and the keystead binary in the environment. Any failed check raises, so the
process exits non-zero and the Rust test shows this output.
"""

import base64
import json
import os
import subprocess
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

ENDPOINT = os.environ["KEYSTEAD_AWS_ENDPOINT"]
REGION = "us-east-1"
KEYSTEAD = os.environ["KEYSTEAD_BIN"]
CUSTODIAN = (os.environ["CUSTODIAN_KEY_ID"], os.environ["CUSTODIAN_SECRET"])
APP = (os.environ["APP_KEY_ID"], os.environ["APP_SECRET"])
# No retries: a refusal must show as itself, not as a retried success or a timeout.
NO_RETRY = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


def kms(credentials):
    key_id, secret = credentials
    return boto3.client(
        "kms",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=NO_RETRY,
    )


def error_code(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientError as err:
        return err.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} succeeded but should have been refused")


def keystead(*args, stdin=b""):
    out = subprocess.run([KEYSTEAD, *args], input=stdin, capture_output=True, check=False)
    assert out.returncode == 0, f"keystead {args}: {out.stderr.decode()}"
    return out.stdout.decode()


def check(name, condition, detail=""):
    if not condition:
        raise AssertionError(f"{name} {detail}")
    print(f"ok  {name}")


custodian = kms(CUSTODIAN)
app = kms(APP)

# Keys made through AWS are Keystead keys.
created = custodian.create_key(Description="orders", KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")
meta = created["KeyMetadata"]
key_id, arn = meta["KeyId"], meta["Arn"]
check("CreateKey", meta["KeyState"] == "Enabled" and arn.endswith(key_id) and meta["Description"] == "orders")
check("DescribeKey", custodian.describe_key(KeyId=arn)["KeyMetadata"]["KeyId"] == key_id)
listed = [k["KeyId"] for k in custodian.list_keys()["Keys"]]
check("ListKeys", key_id in listed, str(listed))

# A crypto user needs a grant, as natively.
check("no grant, no use", error_code(app.encrypt, KeyId=key_id, Plaintext=b"x") == "AccessDeniedException")
keystead("grant", "add", "--principal", "app", "--key", key_id, "--ops", "encrypt,decrypt,datakey")

context = {"tenant": "acme", "purpose": "orders"}
blob = app.encrypt(KeyId=arn, Plaintext=b"attack at dawn", EncryptionContext=context)["CiphertextBlob"]
opened = app.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "orders", "tenant": "acme"})
check("Encrypt/Decrypt", opened["Plaintext"] == b"attack at dawn" and opened["KeyId"] == arn)
check("wrong context", error_code(app.decrypt, CiphertextBlob=blob, EncryptionContext={"tenant": "x"}) == "InvalidCiphertextException")
tampered = bytearray(blob)
tampered[-1] ^= 1
check("tampered blob", error_code(app.decrypt, CiphertextBlob=bytes(tampered), EncryptionContext=context) == "InvalidCiphertextException")

# AWS and native ciphertexts are interchangeable.
native_plain = keystead("decrypt", "--context", "tenant=acme", "--context", "purpose=orders",
                        stdin=base64.b64encode(blob))
check("AWS blob decrypts natively", native_plain.encode() == b"attack at dawn" or native_plain.strip() == "attack at dawn", native_plain)
native = keystead("encrypt", key_id, "--context", "tenant=acme", stdin=b"made natively").strip()
opened = app.decrypt(CiphertextBlob=native.encode(), EncryptionContext={"tenant": "acme"}, KeyId=key_id)
check("native ciphertext decrypts through AWS", opened["Plaintext"] == b"made natively")

data_key = app.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
check("GenerateDataKey", len(data_key["Plaintext"]) == 32)
again = app.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=context)
check("data key decrypts", again["Plaintext"] == data_key["Plaintext"])
check("GenerateRandom", len(app.generate_random(NumberOfBytes=48)["Plaintext"]) == 48)

# Aliases are the native aliases.
custodian.create_alias(AliasName="alias/orders", TargetKeyId=key_id)
check("alias", app.encrypt(KeyId="alias/orders", Plaintext=b"x")["KeyId"] == arn)
aliases = {a["AliasName"]: a["TargetKeyId"] for a in custodian.list_aliases()["Aliases"]}
check("ListAliases", aliases.get("alias/orders") == key_id, str(aliases))
check("alias listed natively", "alias/orders" in keystead("alias", "list"))

# Purpose: an encryption key does not sign.
code = error_code(app.sign, KeyId=key_id, Message=b"m", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
check("purpose refused", code == "InvalidKeyUsageException", code)

# Signatures verify with the public key outside Keystead.
signing = custodian.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
keystead("grant", "add", "--principal", "app", "--key", signing["KeyId"], "--ops", "sign,verify")
signature = app.sign(KeyId=signing["KeyId"], Message=b"release 1.0", MessageType="RAW",
                     SigningAlgorithm="ECDSA_SHA_256")["Signature"]
public = custodian.get_public_key(KeyId=signing["KeyId"])
loaded = serialization.load_der_public_key(public["PublicKey"])
loaded.verify(signature, b"release 1.0", ec.ECDSA(hashes.SHA256()))
check("Sign verifies with the DER public key", public["KeySpec"] == "ECC_NIST_P256")
valid = app.verify(KeyId=signing["KeyId"], Message=b"release 1.0", Signature=signature, SigningAlgorithm="ECDSA_SHA_256")
check("Verify", valid["SignatureValid"] is True)
code = error_code(app.verify, KeyId=signing["KeyId"], Message=b"release 2.0", Signature=signature,
                  SigningAlgorithm="ECDSA_SHA_256")
check("Verify of another message", code == "KMSInvalidSignatureException", code)

# Disabled keys refuse.
custodian.disable_key(KeyId=key_id)
check("DisableKey", custodian.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled")
check("disabled key refuses", error_code(app.encrypt, KeyId=key_id, Plaintext=b"x") == "KMSInvalidStateException")
custodian.enable_key(KeyId=key_id)
check("EnableKey", app.encrypt(KeyId=key_id, Plaintext=b"x")["KeyId"] == arn)

# Description, tags (Keystead labels) and rotation (Keystead's rotation period and versions).
custodian.update_key_description(KeyId=key_id, Description="orders v2")
check("UpdateKeyDescription", custodian.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "orders v2")
custodian.tag_resource(KeyId=key_id, Tags=[{"TagKey": "team", "TagValue": "payments"}])
tags = {t["TagKey"]: t["TagValue"] for t in custodian.list_resource_tags(KeyId=key_id)["Tags"]}
check("TagResource", tags.get("team") == "payments", str(tags))
custodian.untag_resource(KeyId=key_id, TagKeys=["team"])
check("UntagResource", "team" not in {t["TagKey"] for t in custodian.list_resource_tags(KeyId=key_id)["Tags"]})
custodian.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
status = custodian.get_key_rotation_status(KeyId=key_id)
check("EnableKeyRotation", status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90, str(status))
custodian.rotate_key_on_demand(KeyId=key_id)
check("RotateKeyOnDemand", len(custodian.list_key_rotations(KeyId=key_id)["Rotations"]) == 1)
check("old ciphertext still decrypts", app.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"attack at dawn")
custodian.disable_key_rotation(KeyId=key_id)
check("DisableKeyRotation", custodian.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False)

# Deletion goes through Keystead's destruction approval (two other key custodians by default).
doomed = custodian.create_key(Description="doomed")["KeyMetadata"]["KeyId"]
keystead("grant", "add", "--principal", "app", "--key", doomed, "--ops", "encrypt")
check("before deletion", app.encrypt(KeyId=doomed, Plaintext=b"x")["KeyId"].endswith(doomed))
scheduled = custodian.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
requests = [a for a in json.loads(keystead("approval", "list", "--output", "json"))
            if a["key_id"] == doomed and a["operation"] == "destroy-key"]
check("ScheduleKeyDeletion awaits the quorum",
      scheduled["KeyState"] == "Disabled" and [a["status"] for a in requests] == ["pending"], str((scheduled, requests)))
approval = requests[0]["id"]
code = error_code(app.encrypt, KeyId=doomed, Plaintext=b"x")
check("a key pending deletion protects nothing", code == "KMSInvalidStateException", code)
check("cancel before approval", error_code(custodian.cancel_key_deletion, KeyId=doomed) == "KMSInvalidStateException")
for approver in ("approver1", "approver2"):
    token = json.loads(keystead("principal", "create", approver, "--role", "key-custodian", "--output", "json"))["token"]
    keystead("approval", "approve", approval, "--token", token)
meta = custodian.describe_key(KeyId=doomed)["KeyMetadata"]
check("approved: PendingDeletion with its date", meta["KeyState"] == "PendingDeletion" and "DeletionDate" in meta, str(meta))
custodian.cancel_key_deletion(KeyId=doomed)
check("CancelKeyDeletion", custodian.describe_key(KeyId=doomed)["KeyMetadata"]["KeyState"] == "Disabled")

# Authentication failures are AWS's.
forged = kms((APP[0], "A" * 40))
check("wrong secret", error_code(forged.generate_random, NumberOfBytes=8) == "InvalidSignatureException")
unknown = kms(("AKKS0000000000000000", APP[1]))
check("unknown key id", error_code(unknown.generate_random, NumberOfBytes=8) == "UnrecognizedClientException")
code = error_code(custodian.create_grant, KeyId=key_id, GranteePrincipal="app", Operations=["Encrypt"])
check("unsupported operation", code == "UnsupportedOperationException", code)

# Bring your own key: an EXTERNAL key waits for material wrapped under the import parameters.
code = error_code(custodian.get_parameters_for_import, KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                  WrappingKeySpec="RSA_3072")
check("no import into an AWS_KMS key", code == "UnsupportedOperationException", code)
ext = custodian.create_key(Origin="EXTERNAL", Description="byok")["KeyMetadata"]
check("CreateKey Origin EXTERNAL", ext["KeyState"] == "PendingImport" and ext["Origin"] == "EXTERNAL", str(ext))
keystead("grant", "add", "--principal", "app", "--key", ext["KeyId"], "--ops", "encrypt,decrypt")
check("no material, no use", error_code(app.encrypt, KeyId=ext["KeyId"], Plaintext=b"x") == "KMSInvalidStateException")
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def import_parameters(key, algorithm="RSAES_OAEP_SHA_256"):
    params = custodian.get_parameters_for_import(KeyId=key, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_3072")
    return params["ImportToken"], serialization.load_der_public_key(params["PublicKey"])


def import_material(key, token, wrapped):
    return custodian.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=wrapped,
                                         ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")


material = os.urandom(32)
token, wrapping = import_parameters(ext["KeyId"])
other_token, other_wrapping = import_parameters(ext["KeyId"])
refusals = [
    ("unknown token", b"ksit_" + b"0" * 32, wrapping.encrypt(material, OAEP), "InvalidImportTokenException"),
    ("wrapped for another token", token, other_wrapping.encrypt(material, OAEP), "InvalidCiphertextException"),
    ("wrong-size material", token, wrapping.encrypt(material[:16], OAEP), "IncorrectKeyMaterialException"),
]
for name, bad_token, wrapped, expected in refusals:
    code = error_code(import_material, ext["KeyId"], bad_token, wrapped)
    check(f"import refused: {name}", code == expected, code)
check("refusals changed nothing", custodian.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport")
import_material(ext["KeyId"], token, wrapping.encrypt(material, OAEP))
check("ImportKeyMaterial", custodian.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled")
code = error_code(import_material, ext["KeyId"], token, wrapping.encrypt(material, OAEP))
check("a token imports once", code == "InvalidImportTokenException", code)
byok_blob = app.encrypt(KeyId=ext["KeyId"], Plaintext=b"own key")["CiphertextBlob"]
shown = json.loads(keystead("key", "show", ext["KeyId"], "--output", "json"))
provenance = shown["versions"][0]["provenance"]
check("provenance says external, not attested",
      provenance["origin"] == "external" and provenance["imported"]["attestation"].endswith("not attested"), str(provenance))
custodian.delete_imported_key_material(KeyId=ext["KeyId"])
check("DeleteImportedKeyMaterial", custodian.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport")
check("deleted material decrypts nothing",
      error_code(app.decrypt, CiphertextBlob=byok_blob) == "KMSInvalidStateException")
token, wrapping = import_parameters(ext["KeyId"])
code = error_code(import_material, ext["KeyId"], token, wrapping.encrypt(os.urandom(32), OAEP))
check("re-import of other material refused", code == "IncorrectKeyMaterialException", code)
import_material(ext["KeyId"], token, wrapping.encrypt(material, OAEP))
check("re-import of the same material", app.decrypt(CiphertextBlob=byok_blob)["Plaintext"] == b"own key")

# An EC signing key of one's own, wrapped with RSA_AES_KEY_WRAP_SHA_256 (RFC 5649 under a fresh AES key).
ec_ext = custodian.create_key(Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
own = ec.generate_private_key(ec.SECP256R1())
pkcs8 = own.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
token, wrapping = import_parameters(ec_ext["KeyId"], "RSA_AES_KEY_WRAP_SHA_256")
aes_key = os.urandom(32)
import_material(ec_ext["KeyId"], token, wrapping.encrypt(aes_key, OAEP) + aes_key_wrap_with_padding(aes_key, pkcs8))
keystead("grant", "add", "--principal", "app", "--key", ec_ext["KeyId"], "--ops", "sign")
signature = app.sign(KeyId=ec_ext["KeyId"], Message=b"mine", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
own.public_key().verify(signature, b"mine", ec.ECDSA(hashes.SHA256()))
check("imported EC key signs; its own public key verifies", True)

# The aws CLI.
env = dict(os.environ, AWS_ACCESS_KEY_ID=APP[0], AWS_SECRET_ACCESS_KEY=APP[1], AWS_DEFAULT_REGION=REGION,
           AWS_MAX_ATTEMPTS="1")
with open("plain.txt", "wb") as f:
    f.write(b"through the aws CLI")
aws = [sys.executable, "-m", "awscli", "--endpoint-url", ENDPOINT, "--output", "json", "kms"]
out = subprocess.run(aws + ["encrypt", "--key-id", "alias/orders", "--plaintext", "fileb://plain.txt"],
                     env=env, capture_output=True, check=False)
assert out.returncode == 0, out.stderr.decode()
cli_blob = json.loads(out.stdout)["CiphertextBlob"]
with open("blob.bin", "wb") as f:
    f.write(base64.b64decode(cli_blob))
out = subprocess.run(aws + ["decrypt", "--ciphertext-blob", "fileb://blob.bin"], env=env, capture_output=True, check=False)
assert out.returncode == 0, out.stderr.decode()
check("aws kms encrypt/decrypt", base64.b64decode(json.loads(out.stdout)["Plaintext"]) == b"through the aws CLI")

# The AWS Encryption SDK: 1 MiB under a Keystead key; a tampered message fails.
import aws_encryption_sdk  # noqa: E402
import botocore.session  # noqa: E402
from aws_encryption_sdk.identifiers import CommitmentPolicy  # noqa: E402

os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = APP
os.environ["AWS_ENDPOINT_URL_KMS"] = ENDPOINT
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn], botocore_session=botocore.session.Session())
message = os.urandom(1024 * 1024)
sealed, _ = client.encrypt(source=message, key_provider=provider, encryption_context={"app": "orders"})
opened, header = client.decrypt(source=sealed, key_provider=provider)
check("Encryption SDK round trip (1 MiB)", opened == message and header.encryption_context["app"] == "orders")
broken = bytearray(sealed)
broken[len(broken) // 2] ^= 1
try:
    client.decrypt(source=bytes(broken), key_provider=provider)
except Exception as err:  # the SDK raises its own error types for a failed tag or signature
    check("Encryption SDK refuses a tampered message", True, type(err).__name__)
else:
    raise AssertionError("a tampered message decrypted")
print("ALL CHECKS PASSED")
