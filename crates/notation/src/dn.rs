//! Distinguished names as the Notary Project compares them: sets of `TYPE=value` attributes.
//!
//! A trusted identity `x509.subject:<DN>` matches a signing certificate when every attribute of
//! the policy's DN is among the certificate subject's attributes (types compared without case,
//! values exactly). Policy DNs must carry at least C, ST and O.

/// One `TYPE=value` attribute, with the type upper-cased.
pub type Attribute = (String, String);

/// Parses an RFC 4514 string (`CN=a\,b,O=x+OU=y`) into attributes.
pub fn parse(dn: &str) -> Result<Vec<Attribute>, String> {
    let mut out = Vec::new();
    for part in split_unescaped(dn, &[',', '+']) {
        let part = part.trim();
        let (k, v) = part.split_once('=').ok_or_else(|| format!("{part:?} is not TYPE=value"))?;
        let (k, v) = (k.trim().to_ascii_uppercase(), unescape(v.trim()));
        if k.is_empty() || v.is_empty() {
            return Err(format!("{part:?} has an empty type or value"));
        }
        if out.iter().any(|(ok, _): &Attribute| *ok == k) {
            return Err(format!("attribute {k} appears twice"));
        }
        out.push((k, v));
    }
    if out.is_empty() {
        return Err("it is empty".into());
    }
    Ok(out)
}

/// A trusted identity's DN must name C, ST and O.
pub fn check_mandatory(attrs: &[Attribute]) -> Result<(), String> {
    for needed in ["C", "ST", "O"] {
        if !attrs.iter().any(|(k, _)| k == needed) {
            return Err(format!("it has no {needed} attribute (C, ST and O are required)"));
        }
    }
    Ok(())
}

/// The attributes of a certificate's subject.
pub fn of_subject(cert: &crate::cert::Cert) -> Vec<Attribute> {
    // The string form escapes specials the same way `parse` unescapes them.
    parse(&cert.subject()).unwrap_or_default()
}

/// True when every attribute of `wanted` is in `have`.
pub fn is_subset(wanted: &[Attribute], have: &[Attribute]) -> bool {
    wanted.iter().all(|w| have.contains(w))
}

fn split_unescaped<'a>(s: &'a str, seps: &[char]) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if seps.contains(&c) {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches_as_sets() {
        let leaf = parse("CN=acme signer,O=acme,L=Seattle,ST=WA,C=US").unwrap();
        assert!(is_subset(&parse("C=US, ST=WA, O=acme").unwrap(), &leaf));
        assert!(is_subset(&parse("o=acme,c=US,st=WA,CN=acme signer").unwrap(), &leaf));
        assert!(!is_subset(&parse("C=USB,ST=WA,O=acme").unwrap(), &leaf));
        assert!(!is_subset(&parse("C=US,ST=WA,O=acme,OU=x").unwrap(), &leaf));
        assert_eq!(parse(r"CN=a\,b,O=x").unwrap()[0], ("CN".to_string(), "a,b".to_string()));
    }

    #[test]
    fn rejects_bad_names() {
        assert!(parse("").is_err());
        assert!(parse("CN").is_err());
        assert!(parse("CN=a,CN=b").is_err());
        assert!(check_mandatory(&parse("CN=e2e,L=Seattle,ST=WA,C=US").unwrap()).unwrap_err().contains(" O "));
        assert!(check_mandatory(&parse("O=a,ST=b,C=c").unwrap()).is_ok());
    }
}
