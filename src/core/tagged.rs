//! Reading the internally tagged enums that Sluice writes itself (the messages between the
//! Worker and its Durable Objects, the scheduler's outbox records) without serde's buffering.
//!
//! serde's derive reads `{"op": "…", …fields}` into an in-memory tree first (`Content`),
//! because the tag may come anywhere in the object, and then reads the variant from that
//! tree: every type inside such an enum is compiled a second time, to be read from the tree
//! (about 30 KB of the gzipped wasm for these five enums). What Sluice stores and sends is
//! written by serde_json from the same enums, and serde writes the tag before the fields
//! (SQLite's `json_each`, which the outbox goes through, keeps key order), so the fields can
//! be read straight after it. The JSON is the same either way; an object whose first field
//! is not the tag is refused, with an error that says so.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// An internally tagged enum read with its tag first. The enum keeps serde's derived
/// `Serialize` (`#[serde(tag = …)]`, which writes the tag first) and implements
/// `Deserialize` with `tagged::impl_deserialize!`.
pub trait TagFirst: Sized {
    /// The tag's field name (`op`, `kind`).
    const TAG: &'static str;
    /// The variants' names, for the error about an unknown one.
    const VARIANTS: &'static [&'static str];

    /// The variant named `name`, read from the fields after the tag.
    fn variant<'de, A: MapAccess<'de>>(name: &str, fields: Fields<A>) -> Result<Self, A::Error>;
}

/// `impl Deserialize for $t` through `deserialize` (a blanket impl over `TagFirst` types is
/// not allowed for serde's trait).
macro_rules! impl_deserialize {
    ($t:ty) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::core::tagged::deserialize(d)
            }
        }
    };
}
pub(crate) use impl_deserialize;

/// `T` from an object whose first field is `T::TAG`.
pub fn deserialize<'de, D: Deserializer<'de>, T: TagFirst>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(TagVisitor(PhantomData))
}

struct TagVisitor<T>(PhantomData<T>);

impl<'de, T: TagFirst> Visitor<'de> for TagVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object whose first field is `{}`", T::TAG)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        match map.next_key::<String>()? {
            Some(key) if key == T::TAG => {}
            Some(key) => {
                return Err(de::Error::custom(format_args!(
                    "expected `{}` as the first field, found `{key}`",
                    T::TAG
                )))
            }
            None => return Err(de::Error::missing_field(T::TAG)),
        }
        let name: String = map.next_value()?;
        T::variant(&name, Fields(map))
    }
}

/// The fields of a variant, after its tag.
pub struct Fields<A>(A);

impl<'de, A: MapAccess<'de>> Fields<A> {
    /// A variant that carries a struct (or a map): read from the remaining fields.
    pub fn read<V: de::Deserialize<'de>>(self) -> Result<V, A::Error> {
        V::deserialize(self)
    }

    /// A variant without fields; any others are ignored, as serde's derive does.
    pub fn none(mut self) -> Result<(), A::Error> {
        while self.0.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    /// The error for a name that is not one of `T::VARIANTS`.
    pub fn unknown<T: TagFirst>(&self, name: &str) -> A::Error {
        de::Error::unknown_variant(name, T::VARIANTS)
    }
}

/// The remaining fields, as a map for the variant's struct to read.
impl<'de, A: MapAccess<'de>> Deserializer<'de> for Fields<A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Move {
        x: i32,
        #[serde(default)]
        y: Option<i32>,
    }

    #[derive(Debug, PartialEq, Serialize)]
    #[serde(tag = "op", rename_all = "snake_case")]
    enum Op {
        Move(Move),
        Boxed(Box<Move>),
        Stop,
    }

    impl TagFirst for Op {
        const TAG: &'static str = "op";
        const VARIANTS: &'static [&'static str] = &["move", "boxed", "stop"];

        fn variant<'de, A: MapAccess<'de>>(name: &str, f: Fields<A>) -> Result<Self, A::Error> {
            Ok(match name {
                "move" => Op::Move(f.read()?),
                "boxed" => Op::Boxed(f.read()?),
                "stop" => {
                    f.none()?;
                    Op::Stop
                }
                _ => return Err(f.unknown::<Self>(name)),
            })
        }
    }

    impl_deserialize!(Op);

    fn read(text: &str) -> Result<Op, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_what_serde_writes() {
        for op in [
            Op::Move(Move { x: 1, y: Some(2) }),
            Op::Boxed(Box::new(Move { x: 3, y: None })),
            Op::Stop,
        ] {
            let text = serde_json::to_string(&op).unwrap();
            assert!(text.starts_with(r#"{"op":"#), "{text}");
            assert_eq!(read(&text).unwrap(), op);
        }
        assert_eq!(
            read(r#"{"op":"move","x":1}"#).unwrap(),
            Op::Move(Move { x: 1, y: None })
        );
    }

    #[test]
    fn inside_other_types() {
        let ops: Vec<Op> = serde_json::from_str(r#"[{"op":"stop"},{"op":"move","x":5}]"#).unwrap();
        assert_eq!(ops, [Op::Stop, Op::Move(Move { x: 5, y: None })]);
    }

    #[test]
    fn ignores_what_serde_ignores() {
        assert_eq!(
            read(r#"{"op":"stop","extra":[1,{"a":2}]}"#).unwrap(),
            Op::Stop
        );
        assert_eq!(
            read(r#"{"op":"move","x":1,"z":true}"#).unwrap(),
            Op::Move(Move { x: 1, y: None })
        );
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(read(r#"{"x":1,"op":"move"}"#)
            .unwrap_err()
            .contains("expected `op` as the first field, found `x`"));
        assert!(read("{}").unwrap_err().contains("missing field `op`"));
        assert!(read(r#"{"op":"jump"}"#)
            .unwrap_err()
            .contains("unknown variant `jump`, expected one of `move`, `boxed`, `stop`"));
        assert!(read(r#"{"op":"move"}"#)
            .unwrap_err()
            .contains("missing field `x`"));
        assert!(read(r#"{"op":"move","x":"1"}"#).is_err());
        assert!(read(r#"[1]"#).is_err());
    }
}
