//! A deserializer over a `serde_json::Value` that remembers where it failed, so that a 422
//! can name the field (`config.auth.token`, `events[2].topic`).
//!
//! `serde_path_to_error` does this by wrapping every visitor, map and sequence access of the
//! inner deserializer: each request type's `Deserialize` code is then compiled once more
//! per wrapper, about 150 KB of the Worker's wasm. Here only the containers (objects, arrays,
//! enum payloads) are visited by this module; everything else is `&Value`'s own
//! deserializer, so the errors' texts are serde_json's. The path follows the same rules:
//! the deepest field where the error arose, `a.b[0].c`, a key that is refused (an unknown
//! field) included, and a struct's own path for what it finds missing.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Error, Map, Value};
use std::cell::RefCell;

/// Where a value sits in the document, as a chain of borrowed links up to the root.
enum Chain<'a> {
    Root,
    Key(&'a Chain<'a>, &'a str),
    Index(&'a Chain<'a>, usize),
}

impl Chain<'_> {
    /// `a.b[0].c` (serde_path_to_error's spelling), "" at the root.
    fn render(&self) -> String {
        let mut links = vec![];
        let mut at = self;
        loop {
            match at {
                Chain::Root => break,
                Chain::Key(parent, key) => {
                    links.push(Err(*key));
                    at = parent;
                }
                Chain::Index(parent, index) => {
                    links.push(Ok(*index));
                    at = parent;
                }
            }
        }
        let mut out = String::new();
        for link in links.iter().rev() {
            match link {
                Ok(index) => out.push_str(&format!("[{index}]")),
                Err(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
            }
        }
        out
    }
}

/// The path of the first (deepest) failure; errors travel outwards, so later ones are its
/// enclosing values.
type Failed = RefCell<Option<String>>;

fn note(failed: &Failed, at: &Chain<'_>) {
    let mut slot = failed.borrow_mut();
    if slot.is_none() {
        *slot = Some(at.render());
    }
}

/// `result`, its failure noted at `at`: also the failures a value's `Deserialize` finds
/// after this module has handed it the value (an internally tagged enum reads its members
/// first and checks them afterwards).
fn noted<T>(failed: &Failed, at: &Chain<'_>, result: Result<T, Error>) -> Result<T, Error> {
    if result.is_err() {
        note(failed, at);
    }
    result
}

/// Deserialises `T` from `value`; on failure, the path of the offending value ("" for the
/// value itself) and serde_json's error.
pub(super) fn deserialize<T: de::DeserializeOwned>(value: &Value) -> Result<T, (String, Error)> {
    let failed = Failed::default();
    let de = Tracked {
        value,
        at: &Chain::Root,
        failed: &failed,
    };
    T::deserialize(de).map_err(|e| (failed.into_inner().unwrap_or_default(), e))
}

struct Tracked<'de, 'c> {
    value: &'de Value,
    at: &'c Chain<'c>,
    failed: &'c Failed,
}

impl<'de, 'c> Tracked<'de, 'c> {
    fn noted<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        noted(self.failed, self.at, result)
    }

    /// What `&Value` answers when the value is not what `visitor` asked for.
    fn misfit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.noted(Err(de::Error::invalid_type(
            unexpected(self.value),
            &visitor,
        )))
    }

    fn map<V: Visitor<'de>>(
        self,
        map: &'de Map<String, Value>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let result = visit_map(map, self.at, self.failed, visitor);
        self.noted(result)
    }

    fn seq<V: Visitor<'de>>(self, items: &'de [Value], visitor: V) -> Result<V::Value, Error> {
        let result = visit_seq(items, self.at, self.failed, visitor);
        self.noted(result)
    }
}

/// As serde_json's: every member must be taken.
fn visit_map<'de, V: Visitor<'de>>(
    map: &'de Map<String, Value>,
    at: &Chain<'_>,
    failed: &Failed,
    visitor: V,
) -> Result<V::Value, Error> {
    let mut access = Members {
        iter: map.iter(),
        pending: None,
        at,
        failed,
    };
    let out = visitor.visit_map(&mut access)?;
    match access.iter.len() {
        0 => Ok(out),
        _ => Err(de::Error::invalid_length(
            map.len(),
            &"fewer elements in map",
        )),
    }
}

fn visit_seq<'de, V: Visitor<'de>>(
    items: &'de [Value],
    at: &Chain<'_>,
    failed: &Failed,
    visitor: V,
) -> Result<V::Value, Error> {
    let mut access = Items {
        iter: items.iter().enumerate(),
        at,
        failed,
    };
    let out = visitor.visit_seq(&mut access)?;
    match access.iter.len() {
        0 => Ok(out),
        _ => Err(de::Error::invalid_length(
            items.len(),
            &"fewer elements in array",
        )),
    }
}

impl<'de> Deserializer<'de> for Tracked<'de, '_> {
    type Error = Error;

    // Containers go through this module's accesses, so that their members are tracked;
    // nothing here hands a visitor to `&Value`'s own map or array access, which would
    // compile each type's `Deserialize` a second time.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => self.map(map, visitor),
            Value::Array(items) => self.seq(items, visitor),
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Number(n) => {
                let result = n.deserialize_any(visitor);
                self.noted(result)
            }
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => self.map(map, visitor),
            _ => self.misfit(visitor),
        }
    }

    // A struct is an object. (serde_json would also take an array of the fields in order:
    // no client sends that, and taking it would compile every type's `visit_seq` too.)
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => self.map(map, visitor),
            _ => self.misfit(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Array(items) => self.seq(items, visitor),
            _ => self.misfit(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        // serde_json's `RawValue` goes by a private name that `&Value` answers (with the
        // value's text); any other newtype is its content.
        if name.starts_with("$serde_json::") {
            let result = self.value.deserialize_newtype_struct(name, visitor);
            return self.noted(result);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (variant, payload) = match self.value {
            // `"variant"`, or `{"variant": payload}` with the payload tracked under its name.
            Value::String(variant) => (variant, None),
            Value::Object(map) if map.len() == 1 => match map.iter().next() {
                Some((variant, payload)) => (variant, Some(payload)),
                None => return self.misfit(visitor),
            },
            Value::Object(_) => {
                return self.noted(Err(de::Error::invalid_value(
                    de::Unexpected::Map,
                    &"map with a single key",
                )))
            }
            other => {
                return self.noted(Err(de::Error::invalid_type(
                    unexpected(other),
                    &"string or map",
                )))
            }
        };
        let result = visitor.visit_enum(Variant {
            name: variant,
            payload,
            at: self.at,
            failed: self.failed,
        });
        self.noted(result)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    // The rest are scalars: `&Value`'s own answers and error texts.
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_bool(visitor);
        self.noted(result)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_str(visitor);
        self.noted(result)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_string(visitor);
        self.noted(result)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_identifier(visitor);
        self.noted(result)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_unit(visitor);
        self.noted(result)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let result = self.value.deserialize_unit_struct(name, visitor);
        self.noted(result)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_char(visitor);
        self.noted(result)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_bytes(visitor);
        self.noted(result)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_byte_buf(visitor);
        self.noted(result)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_i8(visitor);
        self.noted(result)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_i16(visitor);
        self.noted(result)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_i32(visitor);
        self.noted(result)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_i64(visitor);
        self.noted(result)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_u8(visitor);
        self.noted(result)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_u16(visitor);
        self.noted(result)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_u32(visitor);
        self.noted(result)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_u64(visitor);
        self.noted(result)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_f32(visitor);
        self.noted(result)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.value.deserialize_f64(visitor);
        self.noted(result)
    }

    forward_to_deserialize_any! { i128 u128 }
}

/// An object's members, each value tracked under its key.
struct Members<'de, 'c> {
    iter: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
    at: &'c Chain<'c>,
    failed: &'c Failed,
}

impl<'de> MapAccess<'de> for Members<'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        self.pending = Some((key, value));
        let result = seed.deserialize(BorrowedStrDeserializer::new(key));
        if result.is_err() {
            // A refused key (an unknown field) is named with the key itself.
            note(self.failed, &Chain::Key(self.at, key));
        }
        result.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom(
                "a map value was asked for before its key",
            ));
        };
        let at = Chain::Key(self.at, key);
        let result = seed.deserialize(Tracked {
            value,
            at: &at,
            failed: self.failed,
        });
        noted(self.failed, &at, result)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// An array's items, each tracked under its index.
struct Items<'de, 'c> {
    iter: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    at: &'c Chain<'c>,
    failed: &'c Failed,
}

impl<'de> SeqAccess<'de> for Items<'de, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((index, value)) = self.iter.next() else {
            return Ok(None);
        };
        let at = Chain::Index(self.at, index);
        let result = seed.deserialize(Tracked {
            value,
            at: &at,
            failed: self.failed,
        });
        noted(self.failed, &at, result).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// An externally tagged enum's `{"variant": payload}`.
struct Variant<'de, 'c> {
    name: &'de str,
    /// None for the `"variant"` form.
    payload: Option<&'de Value>,
    at: &'c Chain<'c>,
    failed: &'c Failed,
}

impl<'de, 'c> de::EnumAccess<'de> for Variant<'de, 'c> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::new(self.name))?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'de, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.payload {
            Some(payload) => de::Deserialize::deserialize(payload),
            None => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let Some(value) = self.payload else {
            return Err(unit_variant("newtype variant"));
        };
        let at = Chain::Key(self.at, self.name);
        let result = seed.deserialize(Tracked {
            value,
            at: &at,
            failed: self.failed,
        });
        noted(self.failed, &at, result)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        let at = Chain::Key(self.at, self.name);
        let result = match self.payload {
            Some(Value::Array(items)) => visit_seq(items, &at, self.failed, visitor),
            Some(other) => Err(de::Error::invalid_type(unexpected(other), &"tuple variant")),
            None => Err(unit_variant("tuple variant")),
        };
        noted(self.failed, &at, result)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let at = Chain::Key(self.at, self.name);
        let result = match self.payload {
            Some(Value::Object(map)) => visit_map(map, &at, self.failed, visitor),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(other),
                &"struct variant",
            )),
            None => Err(unit_variant("struct variant")),
        };
        noted(self.failed, &at, result)
    }
}

/// A `"variant"` string where the variant carries data.
fn unit_variant(expected: &'static str) -> Error {
    de::Error::invalid_type(de::Unexpected::UnitVariant, &expected)
}

/// How serde_json's errors name a value of the wrong type.
fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => de::Unexpected::Unsigned(u),
            (None, Some(i)) => de::Unexpected::Signed(i),
            _ => de::Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}
