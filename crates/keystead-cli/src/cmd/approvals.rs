//! `keystead approval ...` and `keystead exception ...`: quorum approvals and time-boxed
//! exceptions for compromised keys.

use anyhow::Result;
use clap::Subcommand;
use keystead_api::oversight::{Approval, ApprovalQuery, RequestException, VoteBody};

use crate::client::{seg, Client};
use crate::output::{print_approval, print_typed, rfc3339};

/// `keystead approval ...`.
#[derive(Debug, Subcommand)]
pub enum ApprovalCommand {
    /// Requests, newest first.
    List {
        /// Only this status: pending, approved, rejected, expired, closed.
        #[arg(long)]
        status: Option<String>,
    },
    /// One request with its votes.
    Show {
        /// The request id (apr_...).
        id: String,
    },
    /// Approve; the approval that completes the quorum runs the operation.
    Approve {
        /// The request id.
        id: String,
        /// An optional note.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject (final).
    Reject {
        /// The request id.
        id: String,
        /// Why (required).
        #[arg(long, required = true)]
        reason: String,
    },
}

/// `keystead exception ...`.
#[derive(Debug, Subcommand)]
pub enum ExceptionCommand {
    /// Ask for a window to protect with a compromised version (needs a quorum's approval).
    Request {
        /// Key name, alias or id.
        key: String,
        /// The protect operation: encrypt, datakey, sign, mac, wrap.
        #[arg(long)]
        operation: String,
        /// The window, e.g. 1h, counted from the approval.
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why.
        #[arg(long, required = true)]
        justification: String,
        /// The compromised version (the newest compromised one by default).
        #[arg(long)]
        version: Option<u32>,
        /// How long the request stays open for approvals.
        #[arg(long = "expires-in", value_name = "DURATION")]
        expires_in: Option<String>,
        /// Tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

fn show(approval: &Approval, json_out: bool) -> Result<i32> {
    if json_out {
        print_typed(approval)?;
    } else {
        print_approval(approval);
    }
    Ok(0)
}

/// Runs an `approval` subcommand.
pub fn run_approval(client: &Client, command: ApprovalCommand, json_out: bool) -> Result<i32> {
    let approval: Approval = match command {
        ApprovalCommand::List { status } => {
            let approvals: Vec<Approval> = client.get_query_as("/v1/approvals", &ApprovalQuery { status })?;
            if json_out {
                print_typed(&approvals)?;
                return Ok(0);
            }
            println!(
                "{:<38}{:<28}{:<20}{:<10}{:<16}EXPIRES",
                "ID", "OPERATION", "KEY", "STATUS", "REQUESTER"
            );
            for a in &approvals {
                println!(
                    "{:<38}{:<28}{:<20}{:<10}{:<16}{}",
                    a.id,
                    a.operation,
                    a.key_name,
                    a.status,
                    a.requester,
                    rfc3339(a.expires_at)
                );
            }
            return Ok(0);
        }
        ApprovalCommand::Show { id } => client.get_as(&format!("/v1/approvals/{}", seg(&id)), &[])?,
        ApprovalCommand::Approve { id, reason } => {
            client.post_as(&format!("/v1/approvals/{}/approve", seg(&id)), &VoteBody { reason })?
        }
        ApprovalCommand::Reject { id, reason } => client
            .post_as(&format!("/v1/approvals/{}/reject", seg(&id)), &VoteBody { reason: Some(reason) })?,
    };
    show(&approval, json_out)
}

/// Runs `exception request`.
pub fn run_exception(client: &Client, command: ExceptionCommand, json_out: bool) -> Result<i32> {
    let ExceptionCommand::Request { key, operation, duration, justification, version, expires_in, tenant } =
        command;
    let body = RequestException { version, operation, duration, justification, expires_in, tenant };
    let approval: Approval = client.post_as(&format!("/v1/keys/{}/exceptions", seg(&key)), &body)?;
    show(&approval, json_out)
}
