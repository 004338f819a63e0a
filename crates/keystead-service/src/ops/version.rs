//! Generating and sealing one new version: shared by `key create` and `key rotate`.

use keystead_core::key::{KeyAttributes, Origin, VersionInfo};
use keystead_core::{KeyState, VersionNumber};
use keystead_crypto::generation_provenance;
use keystead_store::{barrier, StoredVersion};

use crate::{Error, Service};

impl Service {
    /// Generates material for `key`'s algorithm off the async threads (RSA takes a while),
    /// records its provenance, and seals it bound to the key, the version and the provenance.
    pub(crate) async fn generate_version(
        &self,
        key: &KeyAttributes,
        number: VersionNumber,
        state: KeyState,
    ) -> Result<StoredVersion, Error> {
        let algorithm = key.algorithm;
        let generated = tokio::task::spawn_blocking(move || keystead_crypto::generate(algorithm))
            .await
            .map_err(|_| keystead_crypto::Error::Generation { algorithm })??;
        let now = self.now();
        let provenance = generation_provenance(
            algorithm,
            key.environment,
            self.config.node.as_str(),
            now,
            Origin::Generated,
        );
        let provenance_json = serde_json::to_string(&provenance)
            .map_err(|_| keystead_crypto::Error::Generation { algorithm })?;
        let sealed = barrier::seal_material(
            &*self.root()?,
            key,
            number,
            &generated.kcv,
            &provenance_json,
            &generated.material,
        )?;
        Ok(StoredVersion {
            info: VersionInfo {
                number,
                state,
                kcv: generated.kcv,
                public_key_der: generated.public_key_der,
                provenance,
                created_at: now,
                activated_at: (state == KeyState::Active).then_some(now),
                suspended_at: None,
                deactivated_at: None,
                compromise: None,
                destroy_at: None,
                destroyed_at: None,
            },
            provenance_json,
            sealed_material: Some(sealed),
        })
    }
}
