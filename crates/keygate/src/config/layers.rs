//! The layers a setting can come from: the built-in defaults, then a TOML file, then
//! `KEYGATE_*` environment variables (env wins). Each layer is checked against the
//! defaults, so an unknown key or a value of the wrong type names its key and where it
//! came from. The result is one merged TOML table; `RawConfig` deserialises it.

use std::path::Path;

use toml::{Table, Value};

use super::ConfigError;

/// The documented defaults, built into the binary so they cannot drift from the file.
pub const DEFAULT_TOML: &str = include_str!("../../../../config/default.toml");
const ENV_PREFIX: &str = "KEYGATE_";

/// The environment variable a config key maps to: `a.b_c` -> `KEYGATE_A_B_C`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Defaults, then `file` (if given), then `KEYGATE_*` variables from `env`.
pub(super) fn merge(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Table, ConfigError> {
    let mut merged: Table =
        DEFAULT_TOML
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax {
                path: "built-in defaults".into(),
                reason: e.message().to_owned(),
            })?;
    let defaults = merged.clone();
    if let Some(path) = file {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: origin.clone(),
            reason: e.to_string(),
        })?;
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax {
                path: origin.clone(),
                reason: e.message().trim().to_owned(),
            })?;
        overlay_file(&mut merged, &defaults, table, &origin)?;
    }
    overlay_env(&mut merged, &defaults, env)?;
    Ok(merged)
}

fn overlay_file(
    merged: &mut Table,
    defaults: &Table,
    file: Table,
    origin: &str,
) -> Result<(), ConfigError> {
    for (key, value) in file {
        match (defaults.get(&key), value) {
            (Some(Value::Table(section_defaults)), Value::Table(section)) => {
                for (sub, v) in section {
                    let full = format!("{key}.{sub}");
                    let Some(default) = section_defaults.get(&sub) else {
                        return Err(ConfigError::UnknownKey {
                            key: full,
                            origin: origin.into(),
                        });
                    };
                    check_type(&full, origin, default, &v)?;
                    if let Some(Value::Table(t)) = merged.get_mut(&key) {
                        t.insert(sub, v);
                    }
                }
            }
            (Some(Value::Table(_)), _) => {
                return Err(ConfigError::BadValue {
                    key,
                    origin: origin.into(),
                    reason: "expected a [section]".into(),
                })
            }
            (Some(default), v) => {
                check_type(&key, origin, default, &v)?;
                merged.insert(key, v);
            }
            (None, _) => {
                return Err(ConfigError::UnknownKey {
                    key,
                    origin: origin.into(),
                })
            }
        }
    }
    Ok(())
}

fn check_type(key: &str, origin: &str, default: &Value, value: &Value) -> Result<(), ConfigError> {
    if default.same_type(value) {
        Ok(())
    } else {
        Err(ConfigError::BadValue {
            key: key.into(),
            origin: origin.into(),
            reason: format!(
                "expected {}, found {}",
                default.type_str(),
                value.type_str()
            ),
        })
    }
}

fn overlay_env(
    merged: &mut Table,
    defaults: &Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    // Every known key, with its env name and its default (which gives its type).
    let mut known: Vec<(String, Option<String>, String, &Value)> = Vec::new();
    let mut sections = Vec::new();
    for (key, value) in defaults {
        match value {
            Value::Table(t) => {
                sections.push(format!("{ENV_PREFIX}{}_", key.to_ascii_uppercase()));
                for (sub, v) in t {
                    known.push((
                        env_name(&format!("{key}.{sub}")),
                        Some(key.clone()),
                        sub.clone(),
                        v,
                    ));
                }
            }
            v => known.push((env_name(key), None, key.clone(), v)),
        }
    }
    for (name, raw) in env {
        if !name.starts_with(ENV_PREFIX) {
            continue;
        }
        let Some((_, section, key, default)) = known.iter().find(|(n, ..)| *n == name) else {
            // KEYGATE_<SECTION>_<typo> is an error; other KEYGATE_* variables (such as
            // KEYGATE_TEST_POSTGRES_URL, read by the test suite) are not settings.
            if sections.iter().any(|s| name.starts_with(s.as_str())) {
                return Err(ConfigError::UnknownKey {
                    key: name.clone(),
                    origin: "the environment".into(),
                });
            }
            continue;
        };
        let full = match section {
            Some(s) => format!("{s}.{key}"),
            None => key.clone(),
        };
        let value = parse_env_value(&full, &name, default, &raw)?;
        match section {
            Some(s) => {
                if let Some(Value::Table(t)) = merged.get_mut(s) {
                    t.insert(key.clone(), value);
                }
            }
            None => {
                merged.insert(key.clone(), value);
            }
        }
    }
    Ok(())
}

fn parse_env_value(key: &str, var: &str, default: &Value, raw: &str) -> Result<Value, ConfigError> {
    let bad = |reason: String| ConfigError::BadValue {
        key: key.into(),
        origin: var.into(),
        reason,
    };
    match default {
        Value::String(_) => Ok(Value::String(raw.to_owned())),
        Value::Integer(_) => raw
            .trim()
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| bad("expected an integer".into())),
        Value::Boolean(_) => match raw.trim() {
            "true" | "1" => Ok(Value::Boolean(true)),
            "false" | "0" => Ok(Value::Boolean(false)),
            _ => Err(bad("expected true or false".into())),
        },
        Value::Array(_) => Ok(Value::Array(
            raw.split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )),
        other => Err(bad(format!(
            "cannot be set from the environment ({})",
            other.type_str()
        ))),
    }
}
