//! Network rules both engines apply to what they load: which addresses they may reach
//! ([`AddressPolicy`], enforced on every resolution and redirect by `address_guard`), the
//! cookies a caller gives ([`RequestCookie`]) and the proxy they go through ([`ProxyServer`]).
//!
//! They live apart from either engine because the static fetch (reqwest) and the headless render
//! (Chromium) must send the same thing: a cookie or a proxy the user names once, in the library,
//! `[network]` or on the command line, reaches both.

mod address;
pub(crate) mod address_guard;
mod cookie;
mod proxy;

pub use address::{AddressPolicy, AddressRefusal};
pub(crate) use cookie::GivenCookies;
pub use cookie::RequestCookie;
pub use proxy::ProxyServer;
