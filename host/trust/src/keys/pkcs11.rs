//! Keys inside a PKCS#11 token, named by RFC 7512 `pkcs11:` URIs.
//!
//! A URI names the token by its label (`token=`, optionally narrowed with
//! `manufacturer=`, `serial=`, `model=`) and the key by its label
//! (`object=`) and/or id (`id=`), for example
//! `pkcs11:token=release;object=fw-signing-2025?pin-source=file:/etc/rampart/pin`.
//! Slot ids are never used: they are renumbered when a module initialises.
//!
//! - **Module**: the `module-path` query attribute, else the environment
//!   variable [`MODULE_ENV`], else [`DEFAULT_MODULE`] (SoftHSM2).
//! - **PIN**: the `pin-value` or `pin-source` query attribute, else the
//!   [`PinSource`] given by the caller (first line of a file, or the
//!   environment variable [`PIN_ENV`]). PINs are held in zeroising buffers
//!   and never appear in messages.
//! - **Initialisation**: a module is loaded and `C_Initialize`d once per
//!   process (a second `C_Initialize` fails), with OS locking, and stays
//!   loaded for the life of the process.
//! - **Signing**: the private key never leaves the token. SoftHSM has no
//!   `CKM_ECDSA_SHA256` for a prehashed message, so the SHA-256 digest is
//!   signed with plain `CKM_ECDSA`; the token's `r ‖ s` is normalised to
//!   low-`s` and checked against the public key before it is returned.
//!
//! PKCS#11 login state is shared by all sessions of one process on one token:
//! once a signer is logged in, further logins to that token report
//! `CKR_USER_ALREADY_LOGGED_IN`, which is accepted, so a second signer on the
//! same token in the same process does not re-check its PIN.

use super::{KeyError, PinSource, PublicKey, SIGNATURE_LEN, Signer, normalize};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use zeroize::{Zeroize, Zeroizing};

/// Environment variable naming the PKCS#11 module when the URI has no
/// `module-path`.
pub const MODULE_ENV: &str = "RAMPART_PKCS11_MODULE";

/// Environment variable holding the user PIN for [`PinSource::Env`].
pub const PIN_ENV: &str = "RAMPART_PKCS11_PIN";

/// The module used when neither the URI nor [`MODULE_ENV`] names one.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// `CKA_EC_PARAMS` of P-256: the DER OID 1.2.840.10045.3.1.7 (prime256v1).
pub const P256_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The `type` path attribute of a URI, when it is `private` or `public`
/// (other values are ignored). A signer always uses the private key and
/// the public key object with the same label and id, whichever is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// `type=private`
    Private,
    /// `type=public`
    Public,
}

/// A parsed `pkcs11:` URI (RFC 7512). Values are percent-decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: the token's label. Required.
    pub token: String,
    /// `manufacturer`: the token's manufacturer id, if the URI narrows by it.
    pub manufacturer: Option<String>,
    /// `serial`: the token's serial number, if the URI narrows by it.
    pub serial: Option<String>,
    /// `model`: the token's model, if the URI narrows by it.
    pub model: Option<String>,
    /// `object`: the key's label (`CKA_LABEL`). This or `id` is required.
    pub object: Option<String>,
    /// `id`: the key's `CKA_ID` bytes. This or `object` is required.
    pub id: Option<Vec<u8>>,
    /// `type`: `private` or `public`; other values are ignored.
    pub object_type: Option<ObjectType>,
    /// `module-path` query attribute: the PKCS#11 module (shared library).
    pub module_path: Option<PathBuf>,
    /// `pin-source` query attribute: a file whose first line is the PIN
    /// (given as a `file:` URI or a plain path).
    pub pin_source: Option<PathBuf>,
    /// `pin-value` query attribute: the PIN itself. Redacted from `Debug`.
    pub pin_value: Option<Zeroizing<String>>,
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Uri")
            .field("token", &self.token)
            .field("manufacturer", &self.manufacturer)
            .field("serial", &self.serial)
            .field("model", &self.model)
            .field("object", &self.object)
            .field("id", &self.id.as_ref().map(hex::encode))
            .field("object_type", &self.object_type)
            .field("module_path", &self.module_path)
            .field("pin_source", &self.pin_source)
            .field("pin_value", &self.pin_value.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The two components of a URI that hold attributes.
#[derive(Clone, Copy)]
enum Component {
    Path,
    Query,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::Path => "path",
            Component::Query => "query",
        })
    }
}

fn uri_error(cause: impl fmt::Display) -> KeyError {
    KeyError::Pkcs11(format!("invalid pkcs11 URI: {cause}"))
}

/// Whether `c` may appear unencoded in a value of `component`
/// (RFC 7512 `pk11-pchar` / `pk11-qchar`, without the delimiters).
fn allowed(c: char, component: Component) -> bool {
    c.is_ascii_alphanumeric()
        || "-._~:[]@!$'()*+,=".contains(c)
        || match component {
            Component::Path => c == '&',
            Component::Query => "/?|".contains(c),
        }
}

/// Percent-decode one attribute value, refusing characters that must be
/// encoded and malformed escapes. Values of secret attributes are never
/// quoted in errors.
fn decode(component: Component, name: &str, raw: &str, secret: bool) -> Result<Vec<u8>, KeyError> {
    if raw.is_empty() {
        return Err(uri_error(format!("{component} attribute `{name}` is empty")));
    }
    let bytes = raw.as_bytes();
    for (i, c) in raw.char_indices() {
        if c == '%' {
            let hex_ok = bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !hex_ok {
                return Err(uri_error(format!(
                    "{component} attribute `{name}`: `%` must be followed by two hex digits"
                )));
            }
        } else if !allowed(c, component) {
            let what = if secret { "a character".to_string() } else { format!("{c:?}") };
            return Err(uri_error(format!(
                "{component} attribute `{name}`: {what} must be percent-encoded (as %XX, RFC 7512)"
            )));
        }
    }
    Ok(percent_decode_str(raw).collect())
}

/// Decode a value that must be UTF-8 text.
fn decode_text(component: Component, name: &str, raw: &str) -> Result<String, KeyError> {
    String::from_utf8(decode(component, name, raw, false)?)
        .map_err(|_| uri_error(format!("{component} attribute `{name}` is not UTF-8 once percent-decoded")))
}

/// Store an attribute, refusing a second occurrence.
fn set_once<T>(slot: &mut Option<T>, value: T, component: Component, name: &str) -> Result<(), KeyError> {
    if slot.is_some() {
        return Err(uri_error(format!("{component} attribute `{name}` appears twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// The file named by a decoded `pin-source` value: a `file:` URI
/// (`file:/p`, `file:///p`, `file://localhost/p`) or a plain path.
fn pin_source_path(value: &str) -> Result<PathBuf, KeyError> {
    if let Some(rest) = value.strip_prefix("file:") {
        let path = match rest.strip_prefix("//") {
            Some(authority_and_path) => {
                let slash = authority_and_path.find('/').unwrap_or(authority_and_path.len());
                let (host, path) = authority_and_path.split_at(slash);
                if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                    return Err(uri_error(format!("pin-source names a file on host `{host}`; only local files work")));
                }
                path
            }
            None => rest,
        };
        if !path.starts_with('/') {
            return Err(uri_error("pin-source: a `file:` URI must hold an absolute path"));
        }
        return Ok(PathBuf::from(path));
    }
    if value.starts_with('|') {
        return Err(uri_error("pin-source: running a program (`|…`) is not supported; give a file"));
    }
    if let Some((scheme, _)) = value.split_once(':') {
        let looks_like_scheme = scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if looks_like_scheme {
            return Err(uri_error(format!(
                "pin-source: scheme `{scheme}:` is not supported; give a file: URI or a path"
            )));
        }
    }
    Ok(PathBuf::from(value))
}

impl Pkcs11Uri {
    /// Parse an RFC 7512 URI: `pkcs11:` then `;`-separated path attributes
    /// (`token`, `object`, `id`, `manufacturer`, `serial`, `model`, `type`),
    /// then optionally `?` and `&`-separated query attributes
    /// (`module-path`, `pin-source`, `pin-value`).
    ///
    /// Fails closed: unknown or unsupported attributes, repeated attributes,
    /// empty values, characters that must be percent-encoded and malformed
    /// escapes are refused, with a message naming the offending part (but
    /// never quoting a PIN). `token` and one of `object`/`id` are required.
    pub fn parse(uri: &str) -> Result<Self, KeyError> {
        let rest = uri.strip_prefix("pkcs11:").ok_or_else(|| uri_error("it does not start with `pkcs11:`"))?;
        if rest.contains('#') {
            return Err(uri_error("a fragment (`#…`) is not allowed"));
        }
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };

        let mut parsed = Pkcs11Uri {
            token: String::new(),
            manufacturer: None,
            serial: None,
            model: None,
            object: None,
            id: None,
            object_type: None,
            module_path: None,
            pin_source: None,
            pin_value: None,
        };
        let mut token = None;
        let mut object_type_seen = None;
        let p = Component::Path;
        if !path.is_empty() {
            for attribute in path.split(';') {
                let Some((name, raw)) = attribute.split_once('=') else {
                    return Err(if attribute.is_empty() {
                        uri_error("empty path attribute (a stray `;`)")
                    } else {
                        uri_error(format!("path attribute `{attribute}` has no `=value`"))
                    });
                };
                match name {
                    "token" => set_once(&mut token, decode_text(p, name, raw)?, p, name)?,
                    "manufacturer" => set_once(&mut parsed.manufacturer, decode_text(p, name, raw)?, p, name)?,
                    "serial" => set_once(&mut parsed.serial, decode_text(p, name, raw)?, p, name)?,
                    "model" => set_once(&mut parsed.model, decode_text(p, name, raw)?, p, name)?,
                    "object" => set_once(&mut parsed.object, decode_text(p, name, raw)?, p, name)?,
                    "id" => set_once(&mut parsed.id, decode(p, name, raw, false)?, p, name)?,
                    "type" => {
                        let value = decode_text(p, name, raw)?;
                        parsed.object_type = match value.as_str() {
                            "private" => Some(ObjectType::Private),
                            "public" => Some(ObjectType::Public),
                            _ => None,
                        };
                        set_once(&mut object_type_seen, (), p, name)?;
                    }
                    "library-manufacturer"
                    | "library-description"
                    | "library-version"
                    | "slot-description"
                    | "slot-manufacturer"
                    | "slot-id" => {
                        return Err(uri_error(format!(
                            "path attribute `{name}` is not supported: the token is chosen by token= \
                             (and manufacturer=, serial=, model=)"
                        )));
                    }
                    _ => {
                        return Err(uri_error(format!(
                            "unknown path attribute `{name}` (known: token, object, id, manufacturer, serial, model, \
                             type)"
                        )));
                    }
                }
            }
        }

        let q = Component::Query;
        if let Some(query) = query {
            for (index, attribute) in query.split('&').enumerate() {
                // Query values may be PINs: only names are quoted.
                let Some((name, raw)) = attribute.split_once('=') else {
                    return Err(uri_error(format!("query attribute {} has no `name=value` form", index + 1)));
                };
                match name {
                    "module-path" => {
                        set_once(&mut parsed.module_path, PathBuf::from(decode_text(q, name, raw)?), q, name)?
                    }
                    "pin-source" => {
                        set_once(&mut parsed.pin_source, pin_source_path(&decode_text(q, name, raw)?)?, q, name)?
                    }
                    "pin-value" => {
                        let bytes = Zeroizing::new(decode(q, name, raw, true)?);
                        let pin = std::str::from_utf8(&bytes)
                            .map_err(|_| uri_error("query attribute `pin-value` is not UTF-8 once percent-decoded"))?;
                        set_once(&mut parsed.pin_value, Zeroizing::new(pin.to_string()), q, name)?;
                    }
                    "module-name" => {
                        return Err(uri_error(
                            "query attribute `module-name` is not supported: give the module file with module-path= \
                             (or set RAMPART_PKCS11_MODULE)",
                        ));
                    }
                    _ => {
                        let name = if name.len() > 32 { "…" } else { name };
                        return Err(uri_error(format!(
                            "unknown query attribute `{name}` (known: module-path, pin-source, pin-value)"
                        )));
                    }
                }
            }
        }

        if parsed.pin_source.is_some() && parsed.pin_value.is_some() {
            return Err(uri_error("give pin-source or pin-value, not both"));
        }
        parsed.token = token.ok_or_else(|| uri_error("the path attribute `token` (the token's label) is required"))?;
        if parsed.object.is_none() && parsed.id.is_none() {
            return Err(uri_error("the path needs `object` (the key's label) or `id` to name the key"));
        }
        Ok(parsed)
    }

    /// The module to load: `module-path`, else [`MODULE_ENV`], else
    /// [`DEFAULT_MODULE`].
    pub fn resolved_module_path(&self) -> PathBuf {
        self.module_path
            .clone()
            .or_else(|| std::env::var_os(MODULE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODULE))
    }

    /// How messages name the key: label and/or id, and the token.
    fn key_name(&self, label: Option<&str>, id: Option<&[u8]>) -> String {
        let key = match (label, id) {
            (Some(label), Some(id)) => format!("key `{label}` (id {})", hex::encode(id)),
            (Some(label), None) => format!("key `{label}`"),
            (None, Some(id)) => format!("key with id {}", hex::encode(id)),
            (None, None) => "key".to_string(),
        };
        format!("{key} in token `{}`", self.token)
    }
}

/// The id [`Pkcs11Signer::generate`] gives a key whose URI has no `id`:
/// the first 8 bytes of the SHA-256 of the label.
pub fn derived_id(label: &str) -> Vec<u8> {
    Sha256::digest(label.as_bytes())[..8].to_vec()
}

/// `CKR_…` name of a PKCS#11 return value.
fn rv_name(rv: RvError) -> String {
    match rv {
        RvError::VendorDefined(code) => format!("vendor-defined return value {code:#x}"),
        RvError::UnknownErrorCode(code) => format!("unknown return value {code:#x}"),
        other => {
            let mut name = String::from("CKR");
            for c in format!("{other:?}").chars() {
                if c.is_ascii_uppercase() {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

/// `C_Function returned CKR_…` for PKCS#11 failures, the error text otherwise.
fn describe(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("C_{function:?} returned {}", rv_name(*rv)),
        other => other.to_string(),
    }
}

fn ck_error(context: impl fmt::Display, e: &CkError) -> KeyError {
    KeyError::Pkcs11(format!("{context}: {}", describe(e)))
}

/// The process-wide context for a module, loading and initialising it on
/// first use. Keyed by canonical path, since loading one library through
/// two paths yields one library that refuses a second `C_Initialize`.
fn context(module: &Path) -> Result<Pkcs11, KeyError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    if !module.exists() {
        return Err(KeyError::Pkcs11(format!(
            "module {} not found: install softhsm2 (scripts/setup.sh does) or set {MODULE_ENV} \
             (or module-path= in the URI) to your token's module",
            module.display()
        )));
    }
    let key =
        std::fs::canonicalize(module).map_err(|e| KeyError::Pkcs11(format!("module {}: {e}", module.display())))?;
    let mut modules = MODULES.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(context) = modules.get(&key) {
        return Ok(context.clone());
    }
    let context = Pkcs11::new(&key).map_err(|e| ck_error(format!("cannot load module {}", module.display()), &e))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Someone else in this process (another library) initialised it.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(ck_error(format!("cannot initialise module {}", module.display()), &e)),
    }
    modules.insert(key, context.clone());
    Ok(context)
}

/// The one initialised token matching the URI's label (and manufacturer,
/// serial, model when given).
fn find_token(context: &Pkcs11, uri: &Pkcs11Uri, module: &Path) -> Result<Slot, KeyError> {
    let slots = context
        .get_slots_with_token()
        .map_err(|e| ck_error(format!("cannot list the slots of {}", module.display()), &e))?;
    let mut present = Vec::new();
    let mut unreadable = Vec::new();
    let mut found = Vec::new();
    for slot in slots {
        let info = match context.get_token_info(slot) {
            Ok(info) => info,
            // A token that cannot be read is no reason to refuse another
            // one: SoftHSM2's file store, for one, can lose a token that
            // another process rewrites while this one reads it (until the
            // token changes again or this process restarts).
            Err(e) => {
                unreadable.push(format!("slot {slot} ({})", describe(&e)));
                continue;
            }
        };
        if !info.token_initialized() {
            continue;
        }
        present.push(format!("`{}`", info.label()));
        let matches = info.label() == uri.token
            && uri.manufacturer.as_deref().is_none_or(|m| m == info.manufacturer_id())
            && uri.serial.as_deref().is_none_or(|s| s == info.serial_number())
            && uri.model.as_deref().is_none_or(|m| m == info.model());
        if matches {
            found.push(slot);
        }
    }
    match found[..] {
        [slot] => Ok(slot),
        [] => {
            let narrowed = if uri.manufacturer.is_some() || uri.serial.is_some() || uri.model.is_some() {
                " with the URI's manufacturer/serial/model"
            } else {
                ""
            };
            let present = if present.is_empty() { "none".to_string() } else { present.join(", ") };
            let unreadable = if unreadable.is_empty() {
                String::new()
            } else {
                format!("; cannot read the token in {}", unreadable.join(", "))
            };
            Err(KeyError::Pkcs11(format!(
                "no token labelled `{}`{narrowed} in module {} (initialised tokens: {present}{unreadable})",
                uri.token,
                module.display()
            )))
        }
        _ => Err(KeyError::Pkcs11(format!(
            "{} tokens labelled `{}` in module {}: add serial= to the URI to pick one",
            found.len(),
            uri.token,
            module.display()
        ))),
    }
}

/// Read the first line of a PIN file, trimmed.
fn read_pin_file(path: &Path, origin: &str) -> Result<AuthPin, KeyError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| KeyError::Pkcs11(format!("cannot read the PIN file {} ({origin}): {e}", path.display())))?,
    );
    let pin = text.lines().next().unwrap_or("").trim();
    if pin.is_empty() {
        return Err(KeyError::Pkcs11(format!(
            "the PIN file {} ({origin}) is empty: its first line must hold the PIN",
            path.display()
        )));
    }
    Ok(AuthPin::from(pin))
}

/// The user PIN: the URI's `pin-value`/`pin-source` first, else `source`.
fn resolve_pin(uri: &Pkcs11Uri, source: &PinSource) -> Result<AuthPin, KeyError> {
    if let Some(pin) = &uri.pin_value {
        return Ok(AuthPin::from(pin.as_str()));
    }
    if let Some(path) = &uri.pin_source {
        return read_pin_file(path, "pin-source in the URI");
    }
    match source {
        PinSource::File(path) => read_pin_file(path, "--pin-source"),
        PinSource::Env => match std::env::var(PIN_ENV) {
            Ok(value) => {
                let value = Zeroizing::new(value);
                if value.trim().is_empty() {
                    Err(KeyError::Pkcs11(format!("{PIN_ENV} is set but empty: it must hold the token's user PIN")))
                } else {
                    Ok(AuthPin::from(value.trim()))
                }
            }
            Err(std::env::VarError::NotPresent) => Err(KeyError::Pkcs11(format!(
                "no PIN for token `{}`: set {PIN_ENV}, give a PIN file (--pin-source) or put pin-source= in the URI",
                uri.token
            ))),
            Err(std::env::VarError::NotUnicode(raw)) => {
                raw.into_encoded_bytes().zeroize();
                Err(KeyError::Pkcs11(format!("{PIN_ENV} is not valid UTF-8")))
            }
        },
    }
}

/// A session on the URI's token, logged in as the user when the token
/// requires it and `pin` is given; without a PIN, a public session (which
/// sees the token's public objects only).
fn open_session(uri: &Pkcs11Uri, pin: Option<&PinSource>, read_write: bool) -> Result<Session, KeyError> {
    let module = uri.resolved_module_path();
    let context = context(&module)?;
    let slot = find_token(&context, uri, &module)?;
    let token = &uri.token;
    let info = context.get_token_info(slot).map_err(|e| ck_error(format!("token `{token}`"), &e))?;
    let session = if read_write { context.open_rw_session(slot) } else { context.open_ro_session(slot) }
        .map_err(|e| ck_error(format!("cannot open a session on token `{token}`"), &e))?;
    if let (true, Some(pin)) = (info.login_required(), pin) {
        if info.user_pin_locked() {
            return Err(KeyError::Pkcs11(format!("token `{token}`: the user PIN is locked (too many wrong PINs)")));
        }
        let pin = resolve_pin(uri, pin)?;
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e @ CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(ck_error(format!("token `{token}`: wrong PIN"), &e));
            }
            Err(e @ CkError::Pkcs11(RvError::PinLocked, _)) => {
                return Err(ck_error(format!("token `{token}`: the user PIN is locked"), &e));
            }
            Err(e) => return Err(ck_error(format!("token `{token}`: login failed"), &e)),
        }
    }
    Ok(session)
}

/// The search template for a key: class plus label and/or id.
fn key_template(class: ObjectClass, label: Option<&str>, id: Option<&[u8]>) -> Vec<Attribute> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = label {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = id {
        template.push(Attribute::Id(id.to_vec()));
    }
    template
}

/// The one EC key of `class` with this label and/or id. None and several
/// are distinct errors; a key of another type under that name is named so.
fn find_ec_key(
    session: &Session,
    class: ObjectClass,
    label: Option<&str>,
    id: Option<&[u8]>,
    what: &str,
    name: &str,
) -> Result<ObjectHandle, KeyError> {
    let search = |template: &[Attribute]| {
        session.find_objects(template).map_err(|e| ck_error(format!("searching for {name}"), &e))
    };
    let mut template = key_template(class, label, id);
    template.push(Attribute::KeyType(KeyType::EC));
    let found = search(&template)?;
    match found[..] {
        [object] => Ok(object),
        [] => {
            template.pop();
            if let Some(&other) = search(&template)?.first() {
                let kind = session
                    .get_attributes(other, &[AttributeType::KeyType])
                    .map_err(|e| ck_error(format!("reading the {what} of {name}"), &e))?;
                if let [Attribute::KeyType(kind)] = &kind[..] {
                    return Err(KeyError::Pkcs11(format!(
                        "the {what} of {name} is a {kind} key; Rampart signs with EC P-256 (prime256v1) keys only"
                    )));
                }
            }
            Err(KeyError::Pkcs11(format!("no {what} found for {name}")))
        }
        _ => Err(KeyError::Pkcs11(format!(
            "{} {what}s match {name}: name the key by both object= and id= so that one matches",
            found.len()
        ))),
    }
}

/// Human name of the curve in a `CKA_EC_PARAMS` value.
pub(crate) fn curve_name(params: &[u8]) -> String {
    const CURVES: &[(&[u8], &str)] = &[
        (&P256_EC_PARAMS, "prime256v1 (P-256)"),
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22], "secp384r1 (P-384)"),
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23], "secp521r1 (P-521)"),
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a], "secp256k1"),
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21], "secp224r1 (P-224)"),
        (&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01], "prime192v1 (P-192)"),
    ];
    match CURVES.iter().find(|(der, _)| *der == params) {
        Some((_, name)) => (*name).to_string(),
        None => match params {
            // PKCS#11 3.0 also allows the curve's name as a PrintableString.
            [0x13, len, name @ ..] if usize::from(*len) == name.len() => String::from_utf8_lossy(name).into_owned(),
            _ => format!("EC_PARAMS {}", hex::encode(params)),
        },
    }
}

/// Refuse keys whose curve (`CKA_EC_PARAMS`) is not P-256. The public key
/// must state its curve; for the private key the attribute is checked when
/// the token shows it (the key-pair check at open covers the rest).
fn check_p256(attributes: &[Attribute], what: &str, name: &str, required: bool) -> Result<(), KeyError> {
    let params = attributes.iter().find_map(|a| if let Attribute::EcParams(p) = a { Some(p) } else { None });
    match params {
        Some(params) if params[..] == P256_EC_PARAMS => Ok(()),
        Some(params) => Err(KeyError::Pkcs11(format!(
            "the {what} of {name} is on curve {}; Rampart signs with P-256 (prime256v1) keys only",
            curve_name(params)
        ))),
        None if required => {
            Err(KeyError::Pkcs11(format!("the {what} of {name} has no CKA_EC_PARAMS: cannot check its curve")))
        }
        None => Ok(()),
    }
}

/// The contents of a DER OCTET STRING, if `bytes` is exactly one.
fn der_octet_string(bytes: &[u8]) -> Option<&[u8]> {
    let (len, header) = match bytes {
        [0x04, len, ..] if *len < 0x80 => (usize::from(*len), 2),
        [0x04, 0x81, len, ..] if *len >= 0x80 => (usize::from(*len), 3),
        _ => return None,
    };
    (bytes.len() == header + len).then(|| &bytes[header..])
}

/// The public key from `CKA_EC_POINT`: DER-wrapped in an OCTET STRING (as
/// the standard and SoftHSM have it) or, from some tokens, the raw point.
fn public_key_from_ec_point(point: &[u8], name: &str) -> Result<PublicKey, KeyError> {
    der_octet_string(point)
        .and_then(|inner| PublicKey::from_sec1(inner).ok())
        .map_or_else(|| PublicKey::from_sec1(point), Ok)
        .map_err(|e| KeyError::Pkcs11(format!("the CKA_EC_POINT of {name}'s public key: {e}")))
}

/// Whether a PIN is at hand for the URI's token without asking anyone: in
/// the URI (`pin-value`, `pin-source`), in a PIN file, or in [`PIN_ENV`].
pub fn pin_given(uri: &Pkcs11Uri, source: &PinSource) -> bool {
    uri.pin_value.is_some()
        || uri.pin_source.is_some()
        || matches!(source, PinSource::File(_))
        || std::env::var_os(PIN_ENV).is_some()
}

/// The public key a URI names, read from the token's public key object in
/// a session that does not log in: a public key needs no PIN. Unlike
/// [`Pkcs11Signer::open`], this cannot check that the token holds the
/// matching private key (the private key is visible only after login); a
/// wrong public key in a trust store makes verification fail, never pass.
pub fn read_public_key(uri: &Pkcs11Uri) -> Result<PublicKey, KeyError> {
    let (label, id) = (uri.object.as_deref(), uri.id.as_deref());
    if label.is_none() && id.is_none() {
        return Err(KeyError::Pkcs11(format!("no key named in token `{}`: give object= or id=", uri.token)));
    }
    let name = uri.key_name(label, id);
    let session = open_session(uri, None, false)?;
    let object =
        find_ec_key(&session, ObjectClass::PUBLIC_KEY, label, id, "public key object", &name).map_err(|e| {
            KeyError::Pkcs11(format!(
                "{e} (looked without logging in: if token `{}` keeps its public keys private, give the PIN with \
                 --pin-source or {PIN_ENV})",
                uri.token
            ))
        })?;
    public_key_of(&session, object, &name)
}

/// The P-256 public key held by a public key object.
fn public_key_of(session: &Session, object: ObjectHandle, name: &str) -> Result<PublicKey, KeyError> {
    let attributes = session
        .get_attributes(object, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|e| ck_error(format!("reading the public key of {name}"), &e))?;
    check_p256(&attributes, "public key", name, true)?;
    let point = attributes
        .iter()
        .find_map(|a| if let Attribute::EcPoint(point) = a { Some(point) } else { None })
        .ok_or_else(|| KeyError::Pkcs11(format!("the public key of {name} has no CKA_EC_POINT")))?;
    public_key_from_ec_point(point, name)
}

/// A signing key inside a token. The private key never leaves the token;
/// the session that holds the login lives as long as the signer.
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: PublicKey,
    name: String,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer").field("name", &self.name).field("public", &self.public.id()).finish()
    }
}

impl Pkcs11Signer {
    /// Open the key a URI names: find the token by label, log in, find the
    /// EC private key by label and/or id and the public key object with the
    /// same label/id, refuse anything that is not P-256, and check with one
    /// signature that the two halves belong together.
    pub fn open(uri: &Pkcs11Uri, pin: &PinSource) -> Result<Self, KeyError> {
        let session = open_session(uri, Some(pin), false)?;
        Self::from_session(session, uri, uri.object.as_deref(), uri.id.as_deref())
    }

    /// Generate a P-256 key pair inside the token with
    /// `CKM_EC_KEY_PAIR_GEN` and open it. The private key is a sensitive,
    /// non-extractable token object usable only for signing; the public key
    /// is a token object usable for verifying. Both get the URI's `object`
    /// as label (required) and its `id`, or [`derived_id`] of the label.
    /// Refuses if the token already holds an object with that label or id.
    pub fn generate(uri: &Pkcs11Uri, pin: &PinSource) -> Result<Self, KeyError> {
        let label = uri.object.as_deref().ok_or_else(|| {
            KeyError::Pkcs11(format!(
                "to generate a key in token `{}` the URI needs object= (the new key's label)",
                uri.token
            ))
        })?;
        let id = uri.id.clone().unwrap_or_else(|| derived_id(label));
        let name = uri.key_name(Some(label), Some(&id));
        let session = open_session(uri, Some(pin), true)?;

        let labelled = session
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .map_err(|e| ck_error(format!("searching for {name}"), &e))?;
        if !labelled.is_empty() {
            return Err(KeyError::Pkcs11(format!(
                "token `{}` already holds {} object(s) labelled `{label}`: refusing to generate another key with \
                 that label",
                uri.token,
                labelled.len()
            )));
        }
        let with_id = session
            .find_objects(&[Attribute::Id(id.clone())])
            .map_err(|e| ck_error(format!("searching for {name}"), &e))?;
        if !with_id.is_empty() {
            return Err(KeyError::Pkcs11(format!(
                "token `{}` already holds {} object(s) with id {}: refusing to generate another key with that id",
                uri.token,
                with_id.len(),
                hex::encode(&id)
            )));
        }

        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(P256_EC_PARAMS.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        session
            .generate_key_pair(&Mechanism::EccKeyPairGen, &public_template, &private_template)
            .map_err(|e| ck_error(format!("generating {name}"), &e))?;
        Self::from_session(session, uri, Some(label), Some(&id))
    }

    fn from_session(
        session: Session,
        uri: &Pkcs11Uri,
        label: Option<&str>,
        id: Option<&[u8]>,
    ) -> Result<Self, KeyError> {
        let name = uri.key_name(label, id);
        if label.is_none() && id.is_none() {
            return Err(KeyError::Pkcs11(format!("no key named in token `{}`: give object= or id=", uri.token)));
        }
        let key = find_ec_key(&session, ObjectClass::PRIVATE_KEY, label, id, "private key", &name)?;
        let attributes = session
            .get_attributes(key, &[AttributeType::EcParams])
            .map_err(|e| ck_error(format!("reading the private key of {name}"), &e))?;
        check_p256(&attributes, "private key", &name, false)?;

        let public_object = find_ec_key(&session, ObjectClass::PUBLIC_KEY, label, id, "public key object", &name)?;
        let public = public_key_of(&session, public_object, &name)?;

        let signer = Pkcs11Signer { session: Mutex::new(session), key, public, name };
        // The public key object is found by label/id only: make sure it is
        // the private key's other half before anyone relies on it.
        signer.sign_digest(&Sha256::digest(b"rampart: PKCS#11 key pair check").into())?;
        Ok(signer)
    }

    /// How messages name this key: its label and/or id, and its token.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Signer for Pkcs11Signer {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Sign with `CKM_ECDSA` inside the token, normalise to low-`s`, and
    /// refuse a signature that does not verify against the public key.
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; SIGNATURE_LEN], KeyError> {
        let raw = {
            let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
            session
                .sign(&Mechanism::Ecdsa, self.key, digest)
                .map_err(|e| ck_error(format!("signing with {}", self.name), &e))?
        };
        let signature = p256::ecdsa::Signature::from_slice(&raw).map_err(|e| {
            KeyError::Pkcs11(format!(
                "signing with {}: the token returned {} bytes, not a P-256 r ‖ s signature ({e})",
                self.name,
                raw.len()
            ))
        })?;
        let signature = normalize(signature);
        if !self.public.verify_digest(digest, &signature) {
            return Err(KeyError::Pkcs11(format!(
                "signing with {}: the signature does not verify against the token's public key object for this \
                 label/id (it does not belong to the private key, or the token is faulty)",
                self.name
            )));
        }
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rv_names_follow_the_standard() {
        assert_eq!(rv_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(rv_name(RvError::UserAlreadyLoggedIn), "CKR_USER_ALREADY_LOGGED_IN");
        assert_eq!(rv_name(RvError::VendorDefined(0x8000_0001)), "vendor-defined return value 0x80000001");
        let e = CkError::Pkcs11(RvError::PinIncorrect, cryptoki::context::Function::Login);
        assert_eq!(describe(&e), "C_Login returned CKR_PIN_INCORRECT");
    }

    #[test]
    fn ec_point_is_unwrapped_from_der_or_taken_raw() {
        let verifying_key = *p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("a valid scalar").verifying_key();
        let key = PublicKey::from_verifying_key(verifying_key);
        let raw = verifying_key.to_encoded_point(false).as_bytes().to_vec();
        assert_eq!(raw.len(), 65);
        let mut der = vec![0x04, 0x41];
        der.extend_from_slice(&raw);
        assert_eq!(public_key_from_ec_point(&der, "k").expect("DER-wrapped point"), key);
        assert_eq!(public_key_from_ec_point(&raw, "k").expect("raw point"), key);
        let err = public_key_from_ec_point(&der[..40], "k").expect_err("a truncated point").to_string();
        assert!(err.contains("not a P-256 point"), "{err}");
    }

    #[test]
    fn curve_names() {
        assert_eq!(curve_name(&P256_EC_PARAMS), "prime256v1 (P-256)");
        assert_eq!(curve_name(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]), "secp384r1 (P-384)");
        assert_eq!(curve_name(b"\x13\x0aprime256v1"), "prime256v1");
        assert_eq!(curve_name(&[0x06, 0x01, 0x00]), "EC_PARAMS 060100");
    }
}
