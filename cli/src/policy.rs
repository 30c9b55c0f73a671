//! Which bound each tensor gets: one default, and overrides by name glob (the first matching
//! override wins), e.g. `*norm*=lossless`.

use alcm::archive::Bound;

/// A bound per tensor name.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The bound of tensors no override matches.
    pub default: Bound,
    /// `(glob, bound)`: `*` matches any run of characters, `?` one character.
    pub overrides: Vec<(String, Bound)>,
}

impl Policy {
    /// Everything with `default`.
    pub fn uniform(default: Bound) -> Self {
        Policy {
            default,
            overrides: Vec::new(),
        }
    }

    /// The bound of tensor `name`.
    pub fn bound_for(&self, name: &str) -> Bound {
        self.overrides
            .iter()
            .find(|(g, _)| glob_match(g, name))
            .map_or(self.default, |(_, b)| *b)
    }
}

/// Parses a bound: `lossless`, `rel-l2:E` or `max-abs:E` (E a positive number).
pub fn parse_bound(s: &str) -> Result<Bound, String> {
    let num = |v: &str| -> Result<f64, String> {
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
            _ => Err(format!("bound {s:?}: {v:?} is not a positive number")),
        }
    };
    match s.split_once(':') {
        None if s == "lossless" => Ok(Bound::Lossless),
        Some(("rel-l2", v)) => num(v).and_then(|x| {
            if x < 1.0 {
                Ok(Bound::RelativeL2(x))
            } else {
                Err(format!("bound {s:?}: a relative L2 bound must be below 1"))
            }
        }),
        Some(("max-abs", v)) => num(v).map(Bound::MaxAbs),
        _ => Err(format!(
            "bound {s:?}: expected lossless, rel-l2:E or max-abs:E"
        )),
    }
}

/// Parses an override `GLOB=BOUND`.
pub fn parse_override(s: &str) -> Result<(String, Bound), String> {
    let (g, b) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("override {s:?}: expected GLOB=BOUND, e.g. '*norm*=lossless'"))?;
    Ok((g.to_owned(), parse_bound(b)?))
}

/// Shell-style matching of `*` and `?` (no character classes), over characters.
pub fn glob_match(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut gi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ni));
            gi += 1;
        } else if let Some((sg, sn)) = star {
            // Let the last star swallow one more character and retry.
            gi = sg + 1;
            ni = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (g, n, m) in [
            ("*norm*", "encoder.LayerNorm.weight", false),
            ("*Norm*", "encoder.LayerNorm.weight", true),
            ("*.bias", "fc1.bias", true),
            ("*.bias", "fc1.bias.x", false),
            ("fc?.weight", "fc1.weight", true),
            ("fc?.weight", "fc12.weight", false),
            ("*", "", true),
            ("", "a", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
        ] {
            assert_eq!(glob_match(g, n), m, "{g} {n}");
        }
    }

    #[test]
    fn bounds_and_overrides() {
        assert_eq!(parse_bound("lossless"), Ok(Bound::Lossless));
        assert_eq!(parse_bound("rel-l2:1e-3"), Ok(Bound::RelativeL2(1e-3)));
        assert_eq!(parse_bound("max-abs:0.5"), Ok(Bound::MaxAbs(0.5)));
        for bad in [
            "rel-l2:2",
            "rel-l2:-1",
            "max-abs:nan",
            "max-abs:",
            "lossy",
            "rel-l2",
        ] {
            assert!(parse_bound(bad).is_err(), "{bad}");
        }
        let p = Policy {
            default: Bound::RelativeL2(1e-3),
            overrides: vec![
                parse_override("*.bias=lossless").unwrap(),
                parse_override("*=max-abs:1").unwrap(),
            ],
        };
        assert_eq!(p.bound_for("fc.bias"), Bound::Lossless);
        assert_eq!(p.bound_for("fc.weight"), Bound::MaxAbs(1.0));
        assert!(parse_override("nobound").is_err());
    }
}
