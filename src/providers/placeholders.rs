//! `{name}` templates, as S3 object keys and RabbitMQ routing keys use them: each placeholder
//! is replaced by its value; an unknown name or an unpaired brace is an error.

/// Replaces each `{name}` of `template` with `value(name)`. `None` means the name is unknown,
/// and the error lists the known ones as `known()` writes them.
pub fn render(
    template: &str,
    known: impl Fn() -> String,
    mut value: impl FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("a '}' without its '{'".into());
        }
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("a '{' without its '}'")?;
        let name = &after[..close];
        let v = value(name)
            .ok_or_else(|| format!("unknown placeholder {{{name}}}; known: {}", known()))?;
        out.push_str(&v);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(template: &str) -> Result<String, String> {
        render(
            template,
            || "{a}".into(),
            |name| (name == "a").then(|| "1".to_string()),
        )
    }

    #[test]
    fn placeholders_are_filled_and_braces_paired() {
        assert_eq!(fill("x/{a}/{a}.json").as_deref(), Ok("x/1/1.json"));
        assert_eq!(fill("plain").as_deref(), Ok("plain"));
        assert_eq!(
            fill("{b}"),
            Err("unknown placeholder {b}; known: {a}".into())
        );
        for (bad, error) in [
            ("a}{a}", "a '}' without its '{'"),
            ("{a}}", "a '}' without its '{'"),
            ("{a", "a '{' without its '}'"),
        ] {
            assert_eq!(fill(bad), Err(error.into()), "{bad}");
        }
    }
}
