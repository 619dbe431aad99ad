//! JSON helpers more than one layer needs (Universal bodies are read by
//! planning and redacted by logging; the scanner by translation, usage
//! reading and model sniffing). Depends on nothing in the crate.

pub(crate) mod scan;

use serde::Deserialize;
use serde_json::value::RawValue;

/// Why [`object_fields`] refused a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldsError {
    NotAnObject,
    /// A key written twice: which one would win is a guess, so neither does.
    Duplicate(String),
}

/// A JSON object's members in the order written, values left raw, refusing
/// a key that appears twice (as the config parser does).
pub(crate) fn object_fields(raw: &RawValue) -> Result<Vec<(String, &RawValue)>, FieldsError> {
    struct Members<'a>(Vec<(String, &'a RawValue)>);
    impl<'de> Deserialize<'de> for Members<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Members<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Members<'de>, A::Error> {
                    let mut members = Vec::new();
                    while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                        members.push(member);
                    }
                    Ok(Members(members))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    let Members(members) = serde_json::from_str(raw.get()).map_err(|_| FieldsError::NotAnObject)?;
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    for (key, _) in &members {
        if !seen.insert(key.as_str()) {
            return Err(FieldsError::Duplicate(key.clone()));
        }
    }
    Ok(members)
}
