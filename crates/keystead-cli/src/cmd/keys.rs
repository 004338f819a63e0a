//! `keystead key update` (the rest of the key area still lives in `cli.rs` and
//! `commands.rs`).

use anyhow::{bail, Result};
use clap::Args;
use keystead_api::keys::{Key, UpdateKey};

use crate::client::Client;
use crate::commands::{pairs, print_typed, seg, Code};

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
pub fn run_update(client: &Client, args: UpdateArgs, json_out: bool) -> Result<Code> {
    let recoverable = match (args.recoverable, args.non_recoverable) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
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
