//! Statistical tests of the samplers against their exact PMFs, and the
//! structural check that the sampling path has no floating point.

/// The sampling path: every file a sample's value passes through.
const SAMPLING_SOURCES: [(&str, &str); 6] = [
    ("mod.rs", include_str!("mod.rs")),
    ("uniform.rs", include_str!("uniform.rs")),
    ("natural.rs", include_str!("natural.rs")),
    ("bernoulli.rs", include_str!("bernoulli.rs")),
    ("laplace.rs", include_str!("laplace.rs")),
    ("gaussian.rs", include_str!("gaussian.rs")),
];

/// Code with comments and string literals removed, so that documentation
/// may talk about floats while the code may not use them.
fn code_only(src: &str) -> String {
    let mut out = String::new();
    for line in src.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut in_str = false;
        let mut escaped = false;
        for ch in code.chars() {
            if in_str {
                match (escaped, ch) {
                    (false, '\\') => escaped = true,
                    (false, '"') => in_str = false,
                    _ => escaped = false,
                }
                continue;
            }
            if ch == '"' {
                in_str = true;
            } else {
                out.push(ch);
            }
        }
        out.push('\n');
    }
    out
}

#[test]
fn sampling_path_has_no_floating_point() {
    for (name, src) in SAMPLING_SOURCES {
        let code = code_only(src);
        for banned in [
            "f32", "f64", "as_f", "powf", ".sqrt(", ".exp(", ".ln(", "ln_1p", "exp_m1",
        ] {
            assert!(
                !code.contains(banned),
                "{name} uses `{banned}` on the sampling path"
            );
        }
        // Float literals: a digit, a dot, a digit (ranges `0..n` have two dots).
        let bytes = code.as_bytes();
        for i in 1..bytes.len().saturating_sub(1) {
            let is_float_literal = bytes[i] == b'.'
                && bytes[i - 1].is_ascii_digit()
                && bytes[i + 1].is_ascii_digit()
                && bytes.get(i + 2) != Some(&b'.');
            assert!(
                !is_float_literal,
                "{name} has a float literal near byte {i}"
            );
            // `1e-3`-style literals.
            let is_exp_literal = bytes[i - 1].is_ascii_digit()
                && (bytes[i] == b'e' || bytes[i] == b'E')
                && (bytes[i + 1] == b'-' || bytes[i + 1].is_ascii_digit())
                && !bytes[..i]
                    .iter()
                    .rev()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .any(|b| b.is_ascii_alphabetic() || *b == b'_');
            assert!(
                !is_exp_literal,
                "{name} has an exponent literal near byte {i}"
            );
        }
    }
    // The check itself must be able to fail.
    assert!(code_only("let x = 1.5;").contains("1.5"));
    assert!(code_only("let x: f64 = 2;").contains("f64"));
    assert!(!code_only("// f64 in a comment").contains("f64"));
    assert!(!code_only(r#"let s = "say \"2.5\" f64";"#).contains("2.5"));
    assert!(code_only(r#"let s = "\\"; let x = 2.5;"#).contains("2.5"));
}

#[test]
fn zz_timing_probe() {
    use rand_core::SeedableRng;
    for (name, m) in [
        ("lap", super::Mechanism::Laplace),
        ("gauss", super::Mechanism::Gaussian),
    ] {
        for s in ["0.5", "1", "3", "10", "1000"] {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
            let scale = super::Scale::parse_decimal(s).unwrap();
            let t = std::time::Instant::now();
            let mut acc = 0i64;
            for _ in 0..100_000 {
                acc = acc.wrapping_add(super::sample(m, scale, &mut rng).unwrap());
            }
            eprintln!("{name} {s}: {:?} ({acc})", t.elapsed());
        }
    }
}
