//! What a user record may hold: checked before a user is stored.

/// Why a user's name or keys were refused by [`check_user`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUser {
    /// The name is empty, longer than 64 characters or has a character outside
    /// `[A-Za-z0-9+=,.@_-]`.
    #[error("a user name is 1 to 64 characters of letters, digits and + = , . @ _ - (no spaces)")]
    Name,
    /// The access key id is shorter than 16 or longer than 128 characters, or has a
    /// character outside `[A-Za-z0-9_]`.
    #[error("an access key id is 16 to 128 characters of letters, digits and _")]
    AccessKey,
    /// The secret is shorter than 16 or longer than 128 characters, or has a character that
    /// is not printable ASCII, or a space.
    #[error("a secret key is 16 to 128 printable ASCII characters without spaces")]
    Secret,
}

/// Checks a user's name and keys as AWS IAM checks them: a name of 1 to 64 characters of
/// `[A-Za-z0-9+=,.@_-]` (IAM's user-name pattern), an access key id of 16 to 128 characters of
/// `[A-Za-z0-9_]` (IAM's `AccessKeyId` pattern `[\w]+`, ASCII), and a secret of 16 to 128
/// printable ASCII characters without spaces. An empty or short key is a key anyone can
/// guess; a name with a newline or padding forges lines of `user list` and of the logs.
pub fn check_user(name: &str, access_key: &str, secret: &str) -> Result<(), InvalidUser> {
    let name_ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !name_ok {
        return Err(InvalidUser::Name);
    }
    let key_ok = (16..=128).contains(&access_key.len())
        && access_key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !key_ok {
        return Err(InvalidUser::AccessKey);
    }
    let secret_ok =
        (16..=128).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_graphic());
    if !secret_ok {
        return Err(InvalidUser::Secret);
    }
    Ok(())
}

/// Whether `name` is a valid group or policy name, as IAM checks them: 1 to 128 characters
/// of `[A-Za-z0-9+=,.@_-]`.
pub fn is_iam_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// A fresh AWS-shaped key pair: a 20-character access key id (`SG` and 18 of base32) and a
/// 40-character secret (base64 alphabet), from the operating system's randomness.
pub fn generate_keys() -> Result<(String, String), getrandom::Error> {
    const AK_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SK_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut raw = [0u8; 58];
    getrandom::fill(&mut raw)?;
    let mut ak = String::from("SG");
    ak.extend(raw[..18].iter().map(|b| char::from(AK_ALPHABET[usize::from(b % 32)])));
    let sk: String =
        raw[18..].iter().map(|b| char::from(SK_ALPHABET[usize::from(b % 64)])).collect();
    Ok((ak, sk))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AK: &str = "AKIAIOSFODNN7EXAMPLE";
    const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn check(name: &str, ak: &str, sk: &str, expected: Result<(), InvalidUser>) {
        assert_eq!(check_user(name, ak, sk), expected, "{name:?} {ak:?} {sk:?}");
    }

    #[test]
    fn generated_keys_pass_the_check_and_differ() {
        let (ak, sk) = generate_keys().unwrap();
        assert_eq!((ak.len(), sk.len()), (20, 40));
        assert_eq!(check_user("alice", &ak, &sk), Ok(()));
        assert_ne!(generate_keys().unwrap().0, ak);
        assert!(is_iam_name("ci+deploy=1,x.y@z_w-v") && !is_iam_name("") && !is_iam_name("a b"));
        assert!(is_iam_name(&"p".repeat(128)) && !is_iam_name(&"p".repeat(129)));
    }

    #[test]
    fn cases() {
        use InvalidUser::{AccessKey, Name, Secret};
        check("alice", AK, SK, Ok(()));
        check("a", AK, SK, Ok(()));
        check("svc+ci=1,team.x@corp_name-2", AK, SK, Ok(()));
        check(&"n".repeat(64), AK, SK, Ok(()));
        check(&"n".repeat(65), AK, SK, Err(Name));
        for bad in ["", " alice", "alice ", "al ice", "alice\n", "a\nroot\tuser", "a/b", "ä", "a\0"]
        {
            check(bad, AK, SK, Err(Name));
        }
        check("alice", &"A".repeat(16), SK, Ok(()));
        check("alice", &"A_1".repeat(42), SK, Ok(()));
        check("alice", &"A".repeat(129), SK, Err(AccessKey));
        for bad in
            ["", "SHORTKEY", "AKIAIOSFODNN7EXA-", "AKIAIOSFODNN7 EXAMPLE", "AKIAIOSFODNN7EXAMPLÉ"]
        {
            check("alice", bad, SK, Err(AccessKey));
        }
        check("alice", AK, &"s".repeat(16), Ok(()));
        check("alice", AK, "!\"#$%&'()*+,-./~{|}", Ok(()));
        check("alice", AK, &"s".repeat(128), Ok(()));
        check("alice", AK, &"s".repeat(129), Err(Secret));
        for bad in [
            "",
            "short",
            "sixteen chars ok",
            "secret\u{7f}secret0123",
            "secretsecret\n1234",
            "sécretsecret1234",
        ] {
            check("alice", AK, bad, Err(Secret));
        }
    }
}
