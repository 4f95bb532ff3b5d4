//! A module with one token that cannot be read (its file emptied under the
//! running module, as another process rewriting it leaves it for a moment):
//! keys in the module's other tokens still open and sign, and looking for a
//! token that is not there names the unreadable slot and its error. A binary
//! of its own, because the broken token would disturb every other test that
//! walks the module's tokens.

mod softhsm;

use rampart_trust::keys::pkcs11::Pkcs11Signer;
use rampart_trust::keys::{PinSource, Signer, open_signer};
use softhsm::{Hsm, assert_signs, uri};

#[test]
fn an_unreadable_token_does_not_hide_the_others() {
    let hsm = Hsm::new(&["wanted", "broken"]);
    let generated = Pkcs11Signer::generate(&uri("pkcs11:token=wanted;object=fw"), &PinSource::Env)
        .expect("generating in the readable token");

    // Empty the other token's own file, under the module that has it open.
    let broken = std::fs::read_dir(hsm.dir.join("tokens"))
        .expect("the token directory")
        .map(|entry| entry.expect("a token").path().join("token.object"))
        .find(|file| std::fs::read(file).expect("a token file").windows(6).any(|w| w == b"broken"))
        .expect("the file of token `broken`");
    std::fs::write(&broken, b"").expect("emptying the token file");

    let reopened =
        open_signer("pkcs11:token=wanted;object=fw", &PinSource::Env).expect("opening beside a broken token");
    assert_eq!(reopened.public_key(), generated.public_key());
    assert_signs(reopened.as_ref());

    let err = match open_signer("pkcs11:token=elsewhere;object=fw", &PinSource::Env) {
        Ok(_) => panic!("a token that is not there opened"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("no token labelled `elsewhere`"), "{err}");
    assert!(err.contains("initialised tokens: `wanted`;"), "{err}");
    assert!(err.contains("cannot read the token in slot") && err.contains("CKR_GENERAL_ERROR"), "{err}");
}
