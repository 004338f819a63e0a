//! The provenance record of each generated version (CEK-10 guidelines 1–3).

use keystead_core::key::{Origin, Provenance};
use keystead_core::{Algorithm, Environment};
use time::OffsetDateTime;

/// Whether aws-lc-rs runs on AWS-LC's FIPS 140-3 module (a build with the `fips` feature).
pub fn fips_mode() -> bool {
    aws_lc_rs::try_fips_mode().is_ok()
}

/// One line naming the linked library, for logs and the status endpoint.
pub fn library_description() -> String {
    format!(
        "aws-lc-rs {} on AWS-LC {} ({}){}",
        env!("KEYSTEAD_AWS_LC_RS_VERSION"),
        aws_lc_rs::awslc_version(),
        env!("KEYSTEAD_AWS_LC_SYS_CRATE"),
        if fips_mode() { ", FIPS module" } else { "" }
    )
}

/// The provenance of material generated now by this process.
///
/// `library_version` comes from the lockfile at build time; the AWS-LC version is asked of the
/// linked library at run time; `fips` is asked of the library, never configured.
pub fn generation_provenance(
    algorithm: Algorithm,
    environment: Environment,
    node: &str,
    generated_at: OffsetDateTime,
    origin: Origin,
) -> Provenance {
    let fips = fips_mode();
    Provenance {
        library: "aws-lc-rs".to_owned(),
        library_version: env!("KEYSTEAD_AWS_LC_RS_VERSION").to_owned(),
        backend: format!("AWS-LC {} ({})", aws_lc_rs::awslc_version(), env!("KEYSTEAD_AWS_LC_SYS_CRATE")),
        fips,
        rng: "AWS-LC CTR_DRBG with AES-256 (NIST SP 800-90A Rev. 1), per-thread instances".to_owned(),
        entropy_source: if fips {
            "AWS-LC FIPS entropy: CPU Jitter RNG (NIST SP 800-90B) mixed with the operating system's getrandom(2)"
        } else {
            "operating system getrandom(2), with RDRAND/RNDR additional input where the CPU offers it"
        }
        .to_owned(),
        algorithm,
        security_strength_bits: algorithm.security_strength_bits(),
        generated_at,
        environment,
        node: node.to_owned(),
        origin,
        recovered: None,
        imported: None,
    }
}

/// The provenance of an external key's version: nothing about how the material was generated
/// is known, and the record says so rather than naming a library. `imported` is `None` while
/// the version waits for its first import.
pub fn external_provenance(
    algorithm: Algorithm,
    environment: Environment,
    node: &str,
    at: OffsetDateTime,
    imported: Option<keystead_core::key::ImportMark>,
) -> Provenance {
    let unknown = keystead_core::import::NOT_ATTESTED.to_owned();
    Provenance {
        library: "external".to_owned(),
        library_version: "unknown".to_owned(),
        backend: unknown.clone(),
        fips: false,
        rng: unknown.clone(),
        entropy_source: unknown,
        algorithm,
        security_strength_bits: algorithm.security_strength_bits(),
        generated_at: at,
        environment,
        node: node.to_owned(),
        origin: keystead_core::key::Origin::External,
        recovered: None,
        imported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_names_the_linked_library() {
        let p = generation_provenance(
            Algorithm::Ed25519,
            Environment::Test,
            "n1",
            OffsetDateTime::UNIX_EPOCH,
            Origin::Generated,
        );
        assert_eq!(p.library, "aws-lc-rs");
        assert!(
            p.library_version.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{}",
            p.library_version
        );
        assert!(p.backend.contains(aws_lc_rs::awslc_version()));
        assert_eq!(p.fips, cfg!(feature = "fips"));
        assert_eq!(p.security_strength_bits, 128);
    }
}
