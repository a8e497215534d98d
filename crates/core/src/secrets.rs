//! Random secrets: generated passwords, signing keys, tokens and unique placeholders.

use rand::Rng;

/// A random string of letters and digits, from the thread's cryptographically secure
/// generator.
pub fn random_secret(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
