//! Queries built at run time: a WHERE clause and its numbered binds.

use sqlx::Any;

/// A value bound to a placeholder of a query built at run time.
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// A WHERE clause and its binds, numbered `$1`, `$2`, ... in order.
#[derive(Default)]
pub(super) struct Clause {
    conditions: Vec<String>,
    pub(super) binds: Vec<Bind>,
}

impl Clause {
    /// The next placeholder for `bind`.
    pub(super) fn arg(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    pub(super) fn text(&mut self, value: impl Into<String>) -> String {
        self.arg(Bind::Text(value.into()))
    }

    pub(super) fn int(&mut self, value: i64) -> String {
        self.arg(Bind::Int(value))
    }

    pub(super) fn push(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    pub(super) fn sql(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

pub(super) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::Int(int) => query.bind(*int),
        };
    }
    query
}
