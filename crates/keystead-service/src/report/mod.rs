//! Reports for auditors: the inventory report and the compliance report, each built from
//! live data and rendered as JSON, CSV or Markdown, or one self-contained HTML file.

pub mod compliance;
pub mod inventory;
pub mod render;
