//! Database URLs: which database a `--output` value names, and the same URL
//! with its password hidden for every message and log line.

use super::DbError;

/// The databases the sink speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL (`postgres://`, `postgresql://`).
    Postgres,
    /// MySQL or MariaDB (`mysql://`, `mariadb://`).
    MySql,
    /// SQLite, in this process (`sqlite:PATH`).
    Sqlite,
}

impl Dialect {
    /// The database `url` names, if it names one.
    pub fn sniff(url: &str) -> Option<Dialect> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::MySql),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }

    /// The database `url` names, or an error that lists the forms.
    pub fn of(url: &str) -> Result<Dialect, DbError> {
        Self::sniff(url).ok_or_else(|| {
            DbError::Config(format!(
                "`{}` is not a database URL: use postgres://USER@HOST:PORT/DB, mysql://USER@HOST:PORT/DB or sqlite:PATH",
                redact(url)
            ))
        })
    }
}

/// `url` with its password (in the user info, or a `password=` query
/// parameter) replaced by `***`; anything unparseable is returned with
/// everything between `://` and the last `@` hidden.
pub fn redact(url: &str) -> String {
    let Ok(mut parsed) = ::url::Url::parse(url) else {
        return match (url.find("://"), url.rfind('@')) {
            (Some(start), Some(at)) if at > start + 3 => {
                format!("{}***{}", &url[..start + 3], &url[at..])
            }
            _ => url.to_owned(),
        };
    };
    let mut changed = false;
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
        changed = true;
    }
    if parsed
        .query_pairs()
        .any(|(name, _)| name.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if name.eq_ignore_ascii_case("password") {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if changed {
        parsed.to_string().replace("%2A%2A%2A", "***")
    } else {
        url.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_database() {
        assert_eq!(Dialect::sniff("postgres://u@h/db"), Some(Dialect::Postgres));
        assert_eq!(
            Dialect::sniff("postgresql://u@h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(Dialect::sniff("mariadb://u@h/db"), Some(Dialect::MySql));
        assert_eq!(Dialect::sniff("mysql://u@h/db"), Some(Dialect::MySql));
        assert_eq!(Dialect::sniff("sqlite:out.db"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::sniff("out.jsonl"), None);
        assert_eq!(Dialect::sniff("redis-stream:records"), None);
    }

    #[test]
    fn passwords_never_show() {
        for (url, want) in [
            (
                "postgres://app:s3cret@db:5432/music",
                "postgres://app:***@db:5432/music",
            ),
            (
                "mysql://root@127.0.0.1:3306/test",
                "mysql://root@127.0.0.1:3306/test",
            ),
            (
                "postgres://db/music?user=app&password=s3cret",
                "postgres://db/music?user=app&password=***",
            ),
            (
                "postgres://app:s3cret@db:port/x",
                "postgres://***@db:port/x",
            ),
            ("sqlite:records.db", "sqlite:records.db"),
        ] {
            let shown = redact(url);
            assert_eq!(shown, want, "{url}");
            assert!(!shown.contains("s3cret"));
        }
    }
}
