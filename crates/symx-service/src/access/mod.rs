//! Who may do what, and how much: API keys, tenants and scopes ([`keys`]), and admission
//! (per-key rate limits, the bound on expensive requests, places for uploads in progress:
//! [`admission`]).

pub(crate) mod admission;
pub(crate) mod keys;

pub use admission::{Admission, Refusal};
pub use keys::{ApiKeyView, KEY_CACHE_TTL, NewApiKey, Principal, Scope, join_token, split_token};
