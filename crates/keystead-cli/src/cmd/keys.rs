//! `keystead key ...`: create, list, show, update, rotate, lifecycle, compromise, destroy,
//! public key.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use keystead_api::keys::{
    CreateKey, Key, ListKeys, PublicKey, PublicQuery, TenantQuery, UpdateKey, VersionBody,
};
use keystead_api::oversight::{Approval, Compromise, Destroy};

use crate::client::{seg, tenant_suffix, Client};
use crate::input::pairs;
use crate::output::{dash, print_typed, rfc3339, rfc3339_or_dash};

/// `keystead key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key and its first version.
    Create(CreateArgs),
    /// Change a key's owner, labels, description, periods, recovery policy, criticality or
    /// classification. Purpose, algorithm and environment never change.
    Update(UpdateArgs),
    /// List keys.
    List {
        /// Only keys with a version in this state.
        #[arg(long)]
        state: Option<String>,
        /// Only keys of this purpose.
        #[arg(long)]
        purpose: Option<String>,
        /// Only keys of this owner.
        #[arg(long)]
        owner: Option<String>,
        /// Only keys with these labels.
        #[arg(long = "label", value_name = "K=V")]
        labels: Vec<String>,
        /// Tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Include compromised keys (left out unless --state compromised asks for them).
        #[arg(long)]
        all: bool,
    },
    /// Show a key: attributes, versions, provenance, KCVs, aliases, history.
    Show(KeyArgs),
    /// Generate a new primary version.
    Rotate(KeyArgs),
    /// Activate pre-active versions.
    Activate(VersionArgs),
    /// Deactivate active or suspended versions (they keep decrypting and verifying).
    Deactivate(VersionArgs),
    /// Print the public key (PEM) of an asymmetric key.
    Public(VersionArgs),
    /// Bring your own key: a wrapping public key and a single-use, 24-hour import token, for
    /// an external key waiting for material or for a new key of that name.
    ImportParams(super::import::ImportParamsArgs),
    /// Bring your own key: import material wrapped under `import-params`' public key, into
    /// that external key or into a new key (then --purpose and --algorithm are required).
    Import(super::import::ImportArgs),
    /// Delete Keystead's copy of an external key's material: the key waits in pending-import
    /// and takes back only the same material.
    DeleteMaterial(KeyArgs),
    /// Suspend active versions: no protecting; they process only data protected before.
    Suspend(VersionArgs),
    /// Resume suspended versions.
    Resume(VersionArgs),
    /// Report versions compromised (incident responder or key custodian): from now on they
    /// never protect and process only for incident responders with a justification.
    Compromise {
        /// Key name, alias or id.
        key: String,
        /// One version (every version not compromised yet by default).
        #[arg(long)]
        version: Option<u32>,
        /// The incident (security event record) id.
        #[arg(long, required = true)]
        incident: String,
        /// When the compromise happened, RFC 3339 (data protected after it is flagged).
        #[arg(long = "occurred-at", required = true, value_name = "RFC3339")]
        occurred_at: String,
        /// Why the key is considered compromised.
        #[arg(long, required = true)]
        reason: String,
        /// Tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Request the destruction of versions: it needs approval, then runs after the wait;
    /// material is deleted, metadata and history stay. --cancel calls a scheduled one off.
    Destroy {
        /// Key name, alias or id.
        key: String,
        /// One version (every version with material by default).
        #[arg(long)]
        version: Option<u32>,
        /// The waiting period after approval (default 7d).
        #[arg(long, value_name = "DURATION", conflicts_with = "cancel")]
        after: Option<String>,
        /// Why.
        #[arg(long, conflicts_with = "cancel")]
        justification: Option<String>,
        /// How long the request stays open for approvals.
        #[arg(long = "expires-in", value_name = "DURATION", conflicts_with = "cancel")]
        expires_in: Option<String>,
        /// Call off a scheduled destruction that has not run.
        #[arg(long)]
        cancel: bool,
        /// Tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// A key and its tenant.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Key name, alias or id.
    pub key: String,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// A key, optionally one version.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Key name, alias or id.
    pub key: String,
    /// One version (default: every eligible version, or the primary for `public`).
    #[arg(long)]
    pub version: Option<u32>,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `keystead key create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Key name, unique in its tenant.
    pub name: String,
    /// encrypt | sign | mac | wrap | asymmetric-decrypt
    #[arg(long)]
    pub purpose: String,
    /// aes-128-gcm | aes-256-gcm | chacha20-poly1305 | hmac-sha256 | hmac-sha384 | hmac-sha512 |
    /// ecdsa-p256 | ecdsa-p384 | ed25519 | rsa-{2048,3072,4096}-pss | rsa-{2048,3072,4096}-oaep |
    /// aes-256-kw
    #[arg(long)]
    pub algorithm: String,
    /// What the key is for, e.g. prompt-encryption or x-custom.
    #[arg(long = "usage-context")]
    pub usage_context: Option<String>,
    /// Owning team or person.
    #[arg(long)]
    pub owner: Option<String>,
    /// What the key is for (at most 1,000 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// production | staging | development | test (must match the server's).
    #[arg(long)]
    pub environment: Option<String>,
    /// public | internal | confidential | restricted
    #[arg(long)]
    pub classification: Option<String>,
    /// Labels.
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// Rotation period such as 90d.
    #[arg(long = "rotation-period")]
    pub rotation_period: Option<String>,
    /// Originator-usage period, e.g. 365d: each version protects at most this long after
    /// its activation, then deactivates on its own.
    #[arg(long = "protect-period", value_name = "DURATION")]
    pub protect_period: Option<String>,
    /// Recoverable (include in backups). Default for encrypt, wrap and asymmetric-decrypt keys.
    #[arg(long, conflicts_with = "non_recoverable")]
    pub recoverable: bool,
    /// Not recoverable (replaced, never backed up). Default for sign and mac keys.
    #[arg(long = "non-recoverable")]
    pub non_recoverable: bool,
    /// low | medium | high | critical
    #[arg(long)]
    pub criticality: Option<String>,
    /// Create version 1 pre-active.
    #[arg(long = "pre-active")]
    pub pre_active: bool,
    /// generated (default) | external: an external key is created without material, waits
    /// in pending-import, and takes the owner's material by `key import-params` and `key import`.
    #[arg(long)]
    pub origin: Option<String>,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `--recoverable` / `--non-recoverable` as the API's tri-state.
fn recovery_flag(recoverable: bool, non_recoverable: bool) -> Option<bool> {
    match (recoverable, non_recoverable) {
        (_, true) => Some(false),
        (true, _) => Some(true),
        _ => None,
    }
}

/// Runs a `key` subcommand.
pub fn run(client: &Client, command: KeyCommand, json_out: bool) -> Result<i32> {
    let key: Key = match command {
        KeyCommand::Update(args) => return run_update(client, args, json_out),
        KeyCommand::ImportParams(args) => return super::import::run_params(client, args, json_out),
        KeyCommand::Import(args) => super::import::run_import(client, args)?,
        KeyCommand::DeleteMaterial(a) => {
            client.delete_as(&format!("/v1/keys/{}/material{}", seg(&a.key), tenant_suffix(&a.tenant)))?
        }
        KeyCommand::Create(a) => {
            let body = CreateKey {
                name: a.name,
                purpose: a.purpose,
                algorithm: a.algorithm,
                usage_context: a.usage_context,
                owner: a.owner,
                description: a.description,
                environment: a.environment,
                classification: a.classification,
                labels: pairs(&a.labels, "label")?,
                rotation_period: a.rotation_period,
                protect_period: a.protect_period,
                recoverable: recovery_flag(a.recoverable, a.non_recoverable),
                criticality: a.criticality,
                pre_active: a.pre_active,
                tenant: a.tenant,
                origin: a.origin,
            };
            client.post_as("/v1/keys", &body)?
        }
        KeyCommand::List { state, purpose, owner, labels, tenant, all } => {
            pairs(&labels, "label")?;
            let label = (!labels.is_empty()).then(|| labels.join(","));
            let query = ListKeys { tenant, purpose, state, owner, label, all };
            let keys: Vec<Key> = client.get_query_as("/v1/keys", &query)?;
            if json_out {
                print_typed(&keys)?;
                return Ok(0);
            }
            println!(
                "{:<24}{:<20}{:<20}{:<8}{:<12}{:<16}USAGE",
                "NAME", "PURPOSE", "ALGORITHM", "PRIMARY", "VERSIONS", "OWNER"
            );
            for k in &keys {
                println!(
                    "{:<24}{:<20}{:<20}{:<8}{:<12}{:<16}{}",
                    k.name,
                    k.purpose,
                    k.algorithm,
                    k.primary_version.map_or_else(|| "-".to_owned(), |v| format!("v{v}")),
                    k.versions.len(),
                    k.owner,
                    k.usage_context,
                );
            }
            return Ok(0);
        }
        KeyCommand::Show(a) => {
            client.get_query_as(&format!("/v1/keys/{}", seg(&a.key)), &TenantQuery { tenant: a.tenant })?
        }
        KeyCommand::Rotate(a) => client.post_as(
            &format!("/v1/keys/{}/rotate{}", seg(&a.key), tenant_suffix(&a.tenant)),
            &serde_json::json!({}),
        )?,
        KeyCommand::Activate(a) => lifecycle(client, "activate", a)?,
        KeyCommand::Deactivate(a) => lifecycle(client, "deactivate", a)?,
        KeyCommand::Suspend(a) => lifecycle(client, "suspend", a)?,
        KeyCommand::Resume(a) => lifecycle(client, "resume", a)?,
        KeyCommand::Compromise { key, version, incident, occurred_at, reason, tenant } => {
            let body = Compromise { version, incident, occurred_at, reason, tenant };
            let out: Key = client.post_as(&format!("/v1/keys/{}/compromise", seg(&key)), &body)?;
            if !json_out && out.primary_version.is_none() {
                eprintln!(
                    "note: {key} has no usable version left; rotate it (`keystead key rotate {key}`) and rewrap its data (`keystead rewrap`)"
                );
            }
            out
        }
        KeyCommand::Destroy { key, version, after, justification, expires_in, cancel, tenant } => {
            if cancel {
                client.post_as(
                    &format!("/v1/keys/{}/destroy/cancel", seg(&key)),
                    &VersionBody { version, tenant },
                )?
            } else {
                let body = Destroy { version, after, justification, expires_in, tenant };
                let approval: Approval = client.post_as(&format!("/v1/keys/{}/destroy", seg(&key)), &body)?;
                if json_out {
                    print_typed(&approval)?;
                } else {
                    crate::output::print_approval(&approval);
                }
                return Ok(0);
            }
        }
        KeyCommand::Public(a) => {
            let query = PublicQuery { tenant: a.tenant, version: a.version };
            let public: PublicKey =
                client.get_query_as(&format!("/v1/keys/{}/public", seg(&a.key)), &query)?;
            if json_out {
                print_typed(&public)?;
            } else {
                print!("{}", public.pem);
            }
            return Ok(0);
        }
    };
    if json_out {
        print_typed(&key)?;
    } else {
        print_key(&key);
    }
    Ok(0)
}

/// A version of an external key: its material's origin is stated, never a library.
fn print_external_version(v: &keystead_api::keys::KeyVersion) {
    let p = &v.provenance;
    let origin = match &p.imported {
        Some(m) => format!(
            "external: imported by {} at {} ({}, {}); {}",
            m.imported_by,
            rfc3339(m.imported_at),
            m.wrapping_algorithm,
            m.wrapping_key_spec,
            m.attestation
        ),
        None => "external: waiting for its first import".to_owned(),
    };
    println!(
        "{:<8}{:<14}{:<18}{:<26}{:<10}{}",
        format!("v{}", v.number),
        v.state,
        if v.kcv.is_empty() { "-" } else { v.kcv.as_str() },
        rfc3339(v.created_at),
        format!("{}-bit", p.security_strength_bits),
        origin,
    );
}

fn lifecycle(client: &Client, verb: &str, a: VersionArgs) -> Result<Key> {
    client.post_as(
        &format!("/v1/keys/{}/{verb}", seg(&a.key)),
        &VersionBody { version: a.version, tenant: a.tenant },
    )
}

/// Prints a key for people: attributes, versions, reviews, history.
fn print_key(key: &Key) {
    println!("Key             {} ({})", key.name, key.id);
    let rows: [(&str, String); 15] = [
        ("Tenant", key.tenant.clone()),
        ("Purpose", key.purpose.clone()),
        ("Algorithm", key.algorithm.clone()),
        ("Usage context", key.usage_context.clone()),
        ("Owner", key.owner.clone()),
        ("Description", if key.description.is_empty() { "-".to_owned() } else { key.description.clone() }),
        ("Environment", key.environment.clone()),
        ("Classification", key.classification.clone()),
        ("Criticality", key.criticality.clone()),
        ("Recoverable", key.recoverable.to_string()),
        ("Origin", key.origin.clone()),
        ("Created", rfc3339(key.created_at)),
        ("Primary version", dash(key.primary_version)),
        ("Rotation period", dash(key.rotation_period_seconds)),
        ("Protect period", dash(key.protect_period_seconds)),
    ];
    for (label, value) in rows {
        println!("{label:<16}{value}");
    }
    if !key.labels.is_empty() {
        let shown: Vec<String> = key.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("{:<16}{}", "Labels", shown.join(", "));
    }
    if !key.aliases.is_empty() {
        println!("{:<16}{}", "Aliases", key.aliases.join(", "));
    }
    println!("\nVERSION STATE         KCV               CREATED                   STRENGTH  GENERATED BY");
    for v in &key.versions {
        let p = &v.provenance;
        if p.origin == "external" {
            print_external_version(v);
        } else {
            println!(
                "{:<8}{:<14}{:<18}{:<26}{:<10}{} {}{} / {}",
                format!("v{}", v.number),
                v.state,
                v.kcv,
                rfc3339(v.created_at),
                format!("{}-bit", p.security_strength_bits),
                p.library,
                p.library_version,
                if p.fips { " (FIPS)" } else { "" },
                p.rng,
            );
        }
        if let Some(c) = &v.compromise {
            println!(
                "        compromised: incident {}, occurred {}, reported {} by {}: {}",
                c.incident,
                rfc3339(c.occurred_at),
                rfc3339(c.reported_at),
                c.reported_by,
                c.reason
            );
        }
        if v.destroy_at.is_some() {
            println!("        destruction scheduled for {}", rfc3339_or_dash(v.destroy_at));
        }
        if v.destroyed_at.is_some() {
            println!("        material destroyed at {} (metadata kept)", rfc3339_or_dash(v.destroyed_at));
        }
        let uses: Vec<_> = key.usage.iter().filter(|u| u.version == v.number).collect();
        match uses.iter().map(|u| u.last_used_at).max() {
            None => println!("        never used"),
            Some(last) => {
                let counts: Vec<String> =
                    uses.iter().map(|u| format!("{} {}", u.operation, u.uses)).collect();
                println!("        last used {}; uses: {}", rfc3339(last), counts.join(", "));
            }
        }
    }
    for review in &key.reviews {
        let role = if review.as_owner { "owner" } else { "custodian" };
        println!(
            "reviewed {} by {} ({role}): {}",
            rfc3339(review.reviewed_at),
            review.reviewer,
            review.attestation
        );
    }
    for (title, events) in [("HISTORY (status changes)", &key.history), ("RECENT EVENTS", &key.recent_events)]
    {
        if events.is_empty() {
            continue;
        }
        println!("\n{title}");
        for e in events.iter().map(|positioned| &positioned.event) {
            println!(
                "  {:<26}{:<12}{:<16}{:<22}{:<9}{}",
                rfc3339(e.occurred_at),
                e.actor,
                e.source.chars().take(15).collect::<String>(),
                e.action,
                e.outcome,
                e.reason.as_deref().unwrap_or(""),
            );
        }
    }
}

/// `keystead key update KEY ...`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Key name, alias or id.
    pub key: String,
    /// The new owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// Set (add or replace) a label.
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// Remove a label.
    #[arg(long = "remove-label", value_name = "K")]
    pub remove_labels: Vec<String>,
    /// The new description ("" clears it).
    #[arg(long)]
    pub description: Option<String>,
    /// The new rotation period, e.g. 90d, or `none`.
    #[arg(long = "rotation-period")]
    pub rotation_period: Option<String>,
    /// The new originator-usage period, e.g. 365d, or `none`.
    #[arg(long = "protect-period")]
    pub protect_period: Option<String>,
    /// Include the key in backups from now on (a recovery-policy change).
    #[arg(long, conflicts_with = "non_recoverable")]
    pub recoverable: bool,
    /// Leave the key out of backups from now on (a recovery-policy change).
    #[arg(long = "non-recoverable")]
    pub non_recoverable: bool,
    /// low | medium | high | critical
    #[arg(long)]
    pub criticality: Option<String>,
    /// public | internal | confidential | restricted
    #[arg(long)]
    pub classification: Option<String>,
    /// The key's tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// Runs `key update`.
pub fn run_update(client: &Client, args: UpdateArgs, json_out: bool) -> Result<i32> {
    let recoverable = recovery_flag(args.recoverable, args.non_recoverable);
    let body = UpdateKey {
        owner: args.owner,
        set_labels: pairs(&args.labels, "label")?,
        remove_labels: args.remove_labels,
        description: args.description,
        rotation_period: args.rotation_period,
        protect_period: args.protect_period,
        recoverable,
        criticality: args.criticality,
        classification: args.classification,
        tenant: args.tenant,
    };
    if body == (UpdateKey { tenant: body.tenant.clone(), ..UpdateKey::default() }) {
        bail!("name at least one change: --owner, --label, --remove-label, --description, --rotation-period, --protect-period, --recoverable, --non-recoverable, --criticality or --classification");
    }
    let key: Key = client.patch_as(&format!("/v1/keys/{}", seg(&args.key)), &body)?;
    if json_out {
        print_typed(&key)?;
    } else {
        println!(
            "key {} updated: owner {}, criticality {}, classification {}, recoverable {}",
            key.name, key.owner, key.criticality, key.classification, key.recoverable
        );
    }
    Ok(0)
}
