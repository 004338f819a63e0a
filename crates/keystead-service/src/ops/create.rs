//! `key create` (CEK-10): validate, generate with aws-lc-rs, record provenance, seal, store
//! with its audit event. Every attempt is audited, refused and failed ones too.

use keystead_core::key::{
    parse_duration_seconds, Classification, Criticality, KeyAttributes, Labels, Origin,
};
use keystead_core::{
    Algorithm, AuditAction, Environment, KeyId, KeyName, KeyState, Purpose, UsageContext, VersionNumber,
};
use keystead_store::Change;

use super::requests::CreateKeyRequest;
use crate::error::invalid;
use crate::{Caller, Error, KeyView, Service};

/// Usage context recorded when the request names none; the inventory reports such keys.
const UNSPECIFIED_USAGE: &str = "x-unspecified";

impl Service {
    /// Creates a key and its first version.
    pub async fn create_key(&self, caller: &Caller, request: CreateKeyRequest) -> Result<KeyView, Error> {
        let (tenant, mut event) =
            self.attempt_in_tenant(caller, request.tenant.as_deref(), AuditAction::KeyCreate).await?;
        event.key_name = Some(request.name.clone());
        event.algorithm = request.algorithm.parse().ok();
        event.purpose = request.purpose.parse().ok();
        event.details.insert("requested_algorithm".into(), request.algorithm.chars().take(64).collect());
        event.details.insert("requested_purpose".into(), request.purpose.chars().take(64).collect());
        let result = self.create_key_checked(caller, tenant, request, &mut event).await;
        self.finish(event, result).await
    }

    async fn create_key_checked(
        &self,
        caller: &Caller,
        tenant: keystead_core::Tenant,
        request: CreateKeyRequest,
        event: &mut keystead_core::AuditEvent,
    ) -> Result<KeyView, Error> {
        self.authorize(caller, keystead_core::Action::CreateKey, None)?;
        let origin: Origin = request.origin.as_deref().unwrap_or("generated").parse()?;
        let attributes = self.new_key_attributes(caller, tenant, &request, origin).await?;
        let (algorithm, environment) = (attributes.algorithm, attributes.environment);
        let number = VersionNumber::FIRST;
        let (state, version) = match origin {
            Origin::Generated => {
                let state = if request.pre_active { KeyState::PreActive } else { KeyState::Active };
                (state, self.generate_version(&attributes, number, state).await?)
            }
            Origin::External => (KeyState::PendingImport, self.pending_import_version(&attributes, number)?),
        };
        event.details.insert("origin".into(), origin.to_string());
        crate::audit::describe_key(event, &attributes);
        event.version = Some(number.get());
        event.details.insert("kcv".into(), version.info.kcv.clone());
        event.details.insert("state".into(), state.to_string());
        event.details.insert("security_strength_bits".into(), algorithm.security_strength_bits().to_string());
        event.details.insert("environment".into(), environment.to_string());
        let stored =
            keystead_store::StoredKey { attributes: attributes.clone(), versions: vec![version.clone()] };
        self.store.commit(Change::CreateKey { key: attributes, version }, event.clone()).await?;
        Ok(KeyView::from(&stored))
    }

    /// Validates a new key's attributes (everything but its material) and checks that its
    /// name is free: shared by `key create` and the import of material into a new key.
    pub(crate) async fn new_key_attributes(
        &self,
        caller: &Caller,
        tenant: keystead_core::Tenant,
        request: &CreateKeyRequest,
        origin: Origin,
    ) -> Result<KeyAttributes, Error> {
        let name = KeyName::new(request.name.as_str())?;
        let purpose: Purpose = request.purpose.parse()?;
        let algorithm: Algorithm = request.algorithm.parse()?;
        algorithm.check_for(purpose, self.config.minimum_strength_bits)?;
        let environment: Environment = match request.environment.as_deref() {
            Some(text) => text.parse()?,
            None => self.config.environment,
        };
        if environment != self.config.environment {
            return Err(Error::EnvironmentMismatch {
                key: name.to_string(),
                key_environment: environment,
                server_environment: self.config.environment,
            });
        }
        let usage_context = UsageContext::new(request.usage_context.as_deref().unwrap_or(UNSPECIFIED_USAGE))?;
        if usage_context.as_str() == keystead_core::checkpoint::SIGNING_USAGE_CONTEXT
            || name.as_str() == keystead_core::checkpoint::SIGNING_KEY_NAME
        {
            return Err(Error::ReservedKey { key: name.to_string() });
        }
        let owner = request.owner.clone().unwrap_or_else(|| caller.principal.clone());
        if owner.is_empty() || owner.len() > 128 || owner.chars().any(char::is_control) {
            return Err(invalid("owner", "must be 1 to 128 printable characters"));
        }
        let classification: Classification =
            request.classification.as_deref().unwrap_or("confidential").parse()?;
        let criticality: Criticality = request.criticality.as_deref().unwrap_or("medium").parse()?;
        let labels = Labels::new(request.labels.clone())?;
        let rotation_period_seconds =
            request.rotation_period.as_deref().map(parse_duration_seconds).transpose()?;
        let protect_period_seconds =
            request.protect_period.as_deref().map(parse_duration_seconds).transpose()?;
        if let (Some(protect), Some(rotation)) = (protect_period_seconds, rotation_period_seconds) {
            if protect < rotation {
                return Err(invalid(
                    "protect-period",
                    "must be at least the rotation period, or each version stops protecting before the next is rotated in",
                ));
            }
        }
        if origin == Origin::External {
            if rotation_period_seconds.is_some() {
                return Err(invalid(
                    "rotation-period",
                    "an external key is never rotated by Keystead (rotation would generate material here): \
                     import new material into a new key and move the alias instead",
                ));
            }
            if request.pre_active {
                return Err(invalid(
                    "pre-active",
                    "an external key waits for its material in state pending-import",
                ));
            }
        }
        if self.store.key(&tenant, &keystead_core::KeyRef::Name(name.clone())).await?.is_some() {
            return Err(keystead_store::Error::NameTaken {
                tenant: tenant.to_string(),
                name: name.to_string(),
            }
            .into());
        }
        let now = self.now();
        Ok(KeyAttributes {
            id: KeyId::from_random_bytes(keystead_crypto::random_array()?),
            tenant,
            name,
            purpose,
            algorithm,
            usage_context,
            owner,
            description: super::update::description(request.description.as_deref())?,
            environment,
            classification,
            labels,
            origin,
            rotation_period_seconds,
            protect_period_seconds,
            recoverable: request.recoverable.unwrap_or_else(|| super::recovery::default_recoverable(purpose)),
            criticality,
            created_at: now,
            updated_at: now,
        })
    }
}
