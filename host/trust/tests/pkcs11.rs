//! PKCS#11 keys against a real token: SoftHSM2 in a private directory
//! (`softhsm`), with OpenSC's `pkcs11-tool` as an independent second client.
//! Every test that talks to the module takes its token through `token()` or
//! `tool_token()`, which set up the private directory and its tokens before
//! the module is first initialised in this process; each such test works in
//! its own token (unique label).
//!
//! Tests that run `pkcs11-tool` run one at a time and never beside a test
//! that uses the module in this process: SoftHSM2's file store can lose a
//! token that another process rewrites while this one reads it, and every
//! lookup by label reads every token. The other tests run in parallel.

mod softhsm;

use p256::pkcs8::DecodePublicKey;
use rampart_trust::keys::pkcs11::{DEFAULT_MODULE, ObjectType, Pkcs11Signer, Pkcs11Uri, derived_id};
use rampart_trust::keys::{KeyError, PinSource, PublicKey, Signer, open_signer};
use sha2::{Digest, Sha256};
use softhsm::{Hsm, PIN, assert_signs, digest, pkcs11_tool, uri};
use std::path::Path;
use std::process::Output;
use std::sync::{OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One token per test that needs one.
const TOKENS: &[&str] =
    &["gen", "sealed", "interop", "threads", "wrongpin", "nopin", "noobj", "twins", "dup", "curves", "mismatch"];

fn hsm() -> &'static Hsm {
    static HSM: OnceLock<Hsm> = OnceLock::new();
    HSM.get_or_init(|| Hsm::new(TOKENS))
}

/// Shared by the tests that use the module in this process only, held
/// alone by a test that runs `pkcs11-tool`.
static MODULE: RwLock<()> = RwLock::new(());

/// A test's token, and its hold on the module for the whole test.
struct Token {
    label: &'static str,
    hold: Hold,
}

enum Hold {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// The fresh token made for a test that uses it in this process only.
fn token(label: &'static str) -> Token {
    let label = known(label);
    Token { label, hold: Hold::Shared(shared()) }
}

/// A share of the module, for a test that uses it without a token.
fn shared() -> RwLockReadGuard<'static, ()> {
    hsm();
    MODULE.read().unwrap_or_else(PoisonError::into_inner)
}

/// The fresh token made for a test that also runs `pkcs11-tool` on it.
fn tool_token(label: &'static str) -> Token {
    let label = known(label);
    Token { label, hold: Hold::Alone(MODULE.write().unwrap_or_else(PoisonError::into_inner)) }
}

fn known(label: &'static str) -> &'static str {
    assert!(TOKENS.contains(&label), "add `{label}` to TOKENS");
    hsm();
    label
}

impl Token {
    /// Run `pkcs11-tool` on this token, logged in; it must succeed.
    fn tool(&self, args: &[&str]) -> Output {
        assert!(matches!(self.hold, Hold::Alone(_)), "take the token with tool_token() to run pkcs11-tool");
        pkcs11_tool(self.label, args)
    }

    /// The public key of `label` as `pkcs11-tool` exports it (DER SPKI).
    fn exported_public_key(&self, label: &str) -> PublicKey {
        let file = hsm().dir.join(format!("{}-{label}.der", self.label));
        self.tool(&["--read-object", "--type", "pubkey", "--label", label, "-o", file.to_str().expect("UTF-8")]);
        let der = std::fs::read(&file).expect("the exported public key");
        PublicKey::from_verifying_key(p256::ecdsa::VerifyingKey::from_public_key_der(&der).expect("a P-256 SPKI"))
    }
}

fn pin_file(name: &str, contents: &str) -> PinSource {
    let path = hsm().dir.join(name);
    std::fs::write(&path, contents).expect("the PIN file");
    PinSource::File(path)
}

fn refusal<T>(result: Result<T, KeyError>) -> String {
    match result {
        Ok(_) => panic!("expected a refusal"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn generated_key_signs_and_reopens_by_label_and_by_id() {
    let token = tool_token("gen");
    let generated = Pkcs11Signer::generate(&uri("pkcs11:token=gen;object=fw?pin-value=1234"), &PinSource::Env)
        .expect("generating in the token");
    assert_signs(&generated);
    assert_eq!(generated.name(), format!("key `fw` (id {}) in token `gen`", hex::encode(derived_id("fw"))));

    let by_label = Pkcs11Signer::open(&uri("pkcs11:token=gen;object=fw"), &pin_file("gen-pin", "1234\nsecond line\n"))
        .expect("opening by label");
    assert_eq!(by_label.public_key(), generated.public_key());
    assert_signs(&by_label);

    let id: String = derived_id("fw").iter().map(|b| format!("%{b:02x}")).collect();
    let by_id = Pkcs11Signer::open(&uri(&format!("pkcs11:token=gen;id={id};type=private")), &PinSource::Env)
        .expect("opening by the derived id");
    assert_eq!(by_id.public_key(), generated.public_key());

    // The same key as an independent client sees it.
    assert_eq!(token.exported_public_key("fw").id(), generated.public_key().id());
}

#[test]
fn generated_private_key_never_leaves_the_token() {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::error::{Error, RvError};
    use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;

    let token = tool_token("sealed");
    let signer = Pkcs11Signer::generate(&uri("pkcs11:token=sealed;object=fw;id=%42"), &PinSource::Env)
        .expect("generating in the token");

    // As OpenSC sees it.
    let listing = String::from_utf8(token.tool(&["--list-objects"]).stdout).expect("UTF-8");
    let block = listing.split("Private Key Object").nth(1).expect("a private key in the listing");
    let access = block.lines().find_map(|l| l.trim().strip_prefix("Access:")).expect("an Access: line");
    let access: Vec<&str> = access.split(',').map(str::trim).collect();
    assert!(access.contains(&"sensitive"), "{access:?}");
    assert!(access.contains(&"never extractable"), "{access:?}");
    assert!(!access.contains(&"extractable"), "{access:?}");

    // Directly, through a second handle on the module this process uses.
    let module = Pkcs11::new(DEFAULT_MODULE).expect("the module");
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("C_Initialize: {e}"),
    }
    let slot = module
        .get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| module.get_token_info(*s).is_ok_and(|i| i.label() == "sealed"))
        .expect("the token");
    let session = module.open_ro_session(slot).expect("a session");
    match session.login(UserType::User, Some(&AuthPin::from(PIN))) {
        Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("C_Login: {e}"),
    }
    let keys = session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Label(b"fw".to_vec())])
        .expect("C_FindObjects");
    assert_eq!(keys.len(), 1);
    let value = session.get_attribute_info(keys[0], &[AttributeType::Value]).expect("C_GetAttributeValue");
    assert!(matches!(value[..], [AttributeInfo::Sensitive]), "CKA_VALUE must be unreadable: {value:?}");
    let flags = session
        .get_attributes(
            keys[0],
            &[AttributeType::Sensitive, AttributeType::Extractable, AttributeType::Private, AttributeType::Token],
        )
        .expect("C_GetAttributeValue");
    assert_eq!(
        flags,
        [Attribute::Sensitive(true), Attribute::Extractable(false), Attribute::Private(true), Attribute::Token(true)]
    );
    // The signer still works next to the other session.
    assert_signs(&signer);
}

#[test]
fn key_made_by_pkcs11_tool_opens_through_open_signer() {
    let token = tool_token("interop");
    token.tool(&["--keypairgen", "--key-type", "EC:prime256v1", "--label", "tool key", "--id", "a1b2"]);
    let signer = open_signer("pkcs11:token=interop;object=tool%20key;id=%A1%b2", &PinSource::Env)
        .expect("opening the pkcs11-tool key");
    assert_signs(signer.as_ref());
    assert_eq!(signer.public_key().id(), token.exported_public_key("tool key").id());

    let by_file = open_signer("pkcs11:token=interop;object=tool%20key", &pin_file("interop-pin", "  1234  \n"))
        .expect("opening with a PIN file");
    assert_eq!(by_file.public_key(), signer.public_key());
}

#[test]
fn signer_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let _token = token("threads");
    let signer = Pkcs11Signer::generate(&uri("pkcs11:token=threads;object=fw"), &PinSource::Env).expect("generating");
    assert_send_sync(&signer);
    std::thread::scope(|scope| {
        for i in 0..4 {
            let signer = &signer;
            scope.spawn(move || {
                for j in 0..8 {
                    let d = digest(&format!("{i}/{j}"));
                    let signature = signer.sign_digest(&d).expect("signing");
                    assert!(signer.public_key().verify_digest(&d, &signature));
                }
            });
        }
    });
}

#[test]
fn wrong_pin_is_refused() {
    let _token = token("wrongpin");
    let err = refusal(Pkcs11Signer::open(&uri("pkcs11:token=wrongpin;object=fw?pin-value=9999"), &PinSource::Env));
    assert!(err.contains("token `wrongpin`: wrong PIN") && err.contains("CKR_PIN_INCORRECT"), "{err}");
    assert!(!err.contains("9999"), "{err}");
}

#[test]
fn missing_pin_is_refused() {
    let _token = token("nopin");
    let missing = hsm().dir.join("no-such-pin-file");
    let err = refusal(Pkcs11Signer::open(&uri("pkcs11:token=nopin;object=fw"), &PinSource::File(missing.clone())));
    assert!(err.contains("cannot read the PIN file") && err.contains(&missing.display().to_string()), "{err}");
    let err = refusal(Pkcs11Signer::open(&uri("pkcs11:token=nopin;object=fw"), &pin_file("empty-pin", "\n")));
    assert!(err.contains("is empty"), "{err}");
}

#[test]
fn unknown_token_is_refused() {
    let _module = shared();
    let err = refusal(open_signer("pkcs11:token=no-such-token;object=fw", &PinSource::Env));
    assert!(err.contains("no token labelled `no-such-token`"), "{err}");
}

#[test]
fn unknown_object_is_refused() {
    let _token = token("noobj");
    let err = refusal(open_signer("pkcs11:token=noobj;object=missing", &PinSource::Env));
    assert!(err.contains("no private key found for key `missing` in token `noobj`"), "{err}");
}

#[test]
fn ambiguous_label_is_refused() {
    let token = tool_token("twins");
    token.tool(&["--keypairgen", "--key-type", "EC:prime256v1", "--label", "twin", "--id", "01"]);
    token.tool(&["--keypairgen", "--key-type", "EC:prime256v1", "--label", "twin", "--id", "02"]);
    let err = refusal(open_signer("pkcs11:token=twins;object=twin", &PinSource::Env));
    assert!(err.contains("2 private keys match key `twin` in token `twins`"), "{err}");
    let one = open_signer("pkcs11:token=twins;object=twin;id=%02", &PinSource::Env).expect("label and id pick one");
    assert_signs(one.as_ref());
}

#[test]
fn duplicate_label_or_id_on_generate_is_refused() {
    let _token = token("dup");
    Pkcs11Signer::generate(&uri("pkcs11:token=dup;object=fw;id=%07"), &PinSource::Env).expect("the first key");
    let err = refusal(Pkcs11Signer::generate(&uri("pkcs11:token=dup;object=fw"), &PinSource::Env));
    assert!(err.contains("token `dup` already holds 2 object(s) labelled `fw`"), "{err}");
    let err = refusal(Pkcs11Signer::generate(&uri("pkcs11:token=dup;object=other;id=%07"), &PinSource::Env));
    assert!(err.contains("already holds 2 object(s) with id 07"), "{err}");
    let err = refusal(Pkcs11Signer::generate(&uri("pkcs11:token=dup;id=%08"), &PinSource::Env));
    assert!(err.contains("needs object="), "{err}");
}

#[test]
fn keys_that_are_not_p256_are_refused() {
    let token = tool_token("curves");
    token.tool(&["--keypairgen", "--key-type", "EC:secp384r1", "--label", "big"]);
    let err = refusal(open_signer("pkcs11:token=curves;object=big", &PinSource::Env));
    assert!(err.contains("key `big` in token `curves` is on curve secp384r1") && err.contains("P-256"), "{err}");
    token.tool(&["--keypairgen", "--key-type", "rsa:2048", "--label", "rsa"]);
    let err = refusal(open_signer("pkcs11:token=curves;object=rsa", &PinSource::Env));
    assert!(err.contains("the private key of key `rsa` in token `curves` is a CKK_RSA key"), "{err}");
    // Next to an EC P-256 key of the same label, the EC key is the one meant.
    token.tool(&["--keypairgen", "--key-type", "EC:prime256v1", "--label", "rsa"]);
    assert_signs(open_signer("pkcs11:token=curves;object=rsa", &PinSource::Env).expect("the EC key").as_ref());
}

#[test]
fn missing_or_foreign_public_key_object_is_refused() {
    let token = tool_token("mismatch");
    token.tool(&["--keypairgen", "--key-type", "EC:prime256v1", "--label", "a", "--id", "01"]);
    token.tool(&["--keypairgen", "--key-type", "EC:prime256v1", "--label", "b", "--id", "02"]);
    // Give key b's public key object the id of key a, whose own goes away.
    token.tool(&["--delete-object", "--type", "pubkey", "--id", "01"]);
    token.tool(&["--set-id", "01", "--type", "pubkey", "--id", "02"]);
    let err = refusal(open_signer("pkcs11:token=mismatch;id=%01", &PinSource::Env));
    assert!(err.contains("does not verify against the token's public key object"), "{err}");

    token.tool(&["--keypairgen", "--key-type", "EC:prime256v1", "--label", "c", "--id", "03"]);
    token.tool(&["--delete-object", "--type", "pubkey", "--id", "03"]);
    let err = refusal(open_signer("pkcs11:token=mismatch;object=c", &PinSource::Env));
    assert!(err.contains("no public key object found for key `c` in token `mismatch`"), "{err}");
}

#[test]
fn missing_module_is_refused_with_a_remedy() {
    let err = refusal(open_signer("pkcs11:token=t;object=k?module-path=/nonexistent/libp11.so", &PinSource::Env));
    assert!(err.contains("/nonexistent/libp11.so not found"), "{err}");
    assert!(err.contains("softhsm2") && err.contains("RAMPART_PKCS11_MODULE"), "{err}");
    let not_a_library = tempfile::NamedTempFile::new().expect("a temporary file");
    let path = not_a_library.path().display().to_string();
    let err = refusal(open_signer(&format!("pkcs11:token=t;object=k?module-path={path}"), &PinSource::Env));
    assert!(err.contains(&format!("cannot load module {path}")), "{err}");
}

#[test]
fn uri_with_unknown_attribute_is_refused() {
    let err = refusal(open_signer("pkcs11:token=t;object=k;colour=red", &PinSource::Env));
    assert!(err.contains("unknown path attribute `colour`"), "{err}");
}

// URI parsing (no token involved).

#[test]
fn uri_attributes_are_percent_decoded() {
    let parsed = uri("pkcs11:token=My%20Token;manufacturer=SoftHSM%20project;serial=abc;model=SoftHSM%20v2;\
                      object=fw%3Bkey;id=%01%02%ff;type=private?module-path=/opt/lib/p11.so&pin-value=12%2634");
    assert_eq!(parsed.token, "My Token");
    assert_eq!(parsed.manufacturer.as_deref(), Some("SoftHSM project"));
    assert_eq!(parsed.serial.as_deref(), Some("abc"));
    assert_eq!(parsed.model.as_deref(), Some("SoftHSM v2"));
    assert_eq!(parsed.object.as_deref(), Some("fw;key"));
    assert_eq!(parsed.id.as_deref(), Some(&[1u8, 2, 0xff][..]));
    assert_eq!(parsed.object_type, Some(ObjectType::Private));
    assert_eq!(parsed.module_path.as_deref(), Some(Path::new("/opt/lib/p11.so")));
    assert_eq!(parsed.pin_value.as_deref().map(String::as_str), Some("12&34"));
    let debug = format!("{parsed:?}");
    assert!(!debug.contains("12&34") && debug.contains("<redacted>"), "{debug}");

    let parsed = uri("pkcs11:token=t;id=%01;type=cert");
    assert_eq!((parsed.object, parsed.object_type, parsed.module_path), (None, None, None));
}

#[test]
fn uri_pin_sources() {
    for (source, path) in [
        ("file:/etc/pin", "/etc/pin"),
        ("file:///etc/pin", "/etc/pin"),
        ("file://localhost/etc/pin", "/etc/pin"),
        ("/etc/my%20pin", "/etc/my pin"),
        ("pins/token", "pins/token"),
    ] {
        let parsed = uri(&format!("pkcs11:token=t;id=%01?pin-source={source}"));
        assert_eq!(parsed.pin_source.as_deref(), Some(Path::new(path)), "{source}");
    }
    for (source, expected) in [
        ("file://example.org/pin", "host `example.org`"),
        ("file:pin", "absolute path"),
        ("|/bin/get-pin", "running a program"),
        ("https://example.org/pin", "scheme `https:`"),
    ] {
        let err = refusal(Pkcs11Uri::parse(&format!("pkcs11:token=t;id=%01?pin-source={source}")));
        assert!(err.contains("pin-source") && err.contains(expected), "{source}: {err}");
    }
}

#[test]
fn uri_refusals_name_the_problem() {
    for (text, expected) in [
        ("pkcs12:token=t;object=k", "does not start with `pkcs11:`"),
        ("pkcs11:object=k", "`token` (the token's label) is required"),
        ("pkcs11:", "`token` (the token's label) is required"),
        ("pkcs11:token=t", "needs `object`"),
        ("pkcs11:token=t;object=k;color=blue", "unknown path attribute `color`"),
        ("pkcs11:token=t;object=k;slot-id=3", "`slot-id` is not supported"),
        ("pkcs11:token=t;object=k;object=j", "`object` appears twice"),
        ("pkcs11:token=t;;object=k", "stray `;`"),
        ("pkcs11:token=t;object", "`object` has no `=value`"),
        ("pkcs11:token=;object=k", "`token` is empty"),
        ("pkcs11:token=my token;object=k", "' ' must be percent-encoded"),
        ("pkcs11:token=t;id=%0", "`id`: `%` must be followed by two hex digits"),
        ("pkcs11:token=t;id=%zz", "`%` must be followed"),
        ("pkcs11:token=t;object=%ff", "`object` is not UTF-8"),
        ("pkcs11:token=t;object=k#frag", "fragment"),
        ("pkcs11:token=t;object=k?module-name=softhsm2", "`module-name` is not supported"),
        ("pkcs11:token=t;object=k?colour=red", "unknown query attribute `colour`"),
        ("pkcs11:token=t;object=k?pin-value=1&pin-source=/p", "not both"),
        ("pkcs11:token=t;object=k?pin-value=1&pin-value=2", "`pin-value` appears twice"),
    ] {
        let err = refusal(Pkcs11Uri::parse(text));
        assert!(err.starts_with("PKCS#11: invalid pkcs11 URI: ") && err.contains(expected), "{text}: {err}");
    }
}

#[test]
fn uri_errors_never_quote_pins() {
    for text in ["pkcs11:token=t;object=k?pin-value=se cret", "pkcs11:token=t;object=k?pin-valuesecret"] {
        let err = refusal(Pkcs11Uri::parse(text));
        assert!(!err.contains("secret") && !err.contains("se cret"), "{err}");
    }
}

#[test]
fn derived_id_is_a_prefix_of_the_label_hash() {
    assert_eq!(derived_id("fw"), Sha256::digest(b"fw")[..8].to_vec());
}
