//! A map keyed by strings compared ignoring ASCII case, looked up without lowercasing the
//! key: the hash reads the key a word at a time with the ASCII case bit set (`A` and `a` hash
//! alike), and a candidate entry is compared with `eq_ignore_ascii_case`. Keys are stored
//! lowercased (Unicode lowercase, as `str::to_lowercase` writes it); a key that is not ASCII is
//! lowercased before it is looked up, so `K` (the Kelvin sign) finds `k`. The detection
//! index looks up every event's `eventName` and `eventSource` here. Pure.

/// Open addressing over `slots` (a power of two, at most half full), each an index into
/// `entries` or [`EMPTY`].
#[derive(Debug)]
pub struct CaselessMap<V> {
    entries: Vec<(Box<[u8]>, V)>,
    slots: Vec<u32>,
}

const EMPTY: u32 = u32::MAX;

impl<V> Default for CaselessMap<V> {
    fn default() -> Self {
        CaselessMap { entries: Vec::new(), slots: vec![EMPTY; 8] }
    }
}

/// The hash of `key` with every byte's `0x20` bit set: equal for keys equal ignoring ASCII case.
/// Its high bits pick the slot (a product's high bits depend on every bit multiplied).
#[inline]
fn hash(key: &[u8]) -> u64 {
    // rustc-hash's multiplier.
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    const CASE: u64 = 0x2020_2020_2020_2020;
    let mix = |h: u64, w: u64| (h.rotate_left(26) ^ (w | CASE)).wrapping_mul(K);
    let n = key.len();
    let word = |at: usize| u64::from_le_bytes(key[at..at + 8].try_into().unwrap_or([0; 8]));
    let half = |at: usize| u64::from(u32::from_le_bytes(key[at..at + 4].try_into().unwrap_or([0; 4])));
    let h = (n as u64).wrapping_mul(K);
    match n {
        0 => h,
        1..4 => mix(h, u64::from(key[0]) | u64::from(key[n / 2]) << 8 | u64::from(key[n - 1]) << 16),
        // Overlapping reads: the last word (or half) ends at the key's end.
        4..8 => mix(h, half(0) | half(n - 4) << 32),
        _ => {
            let mut h = h;
            let mut at = 0;
            while at + 8 < n {
                h = mix(h, word(at));
                at += 8;
            }
            mix(h, word(n - 8))
        }
    }
}

impl<V> CaselessMap<V> {
    fn slot(&self, key: &[u8]) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut at = (hash(key) >> (64 - self.slots.len().trailing_zeros())) as usize;
        loop {
            match self.slots[at] {
                EMPTY => return Err(at),
                i => {
                    let stored = &self.entries[i as usize].0;
                    if stored.len() == key.len() && stored.eq_ignore_ascii_case(key) {
                        return Ok(i as usize);
                    }
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// The value under `key` (ignoring case), inserted as `V::default()` when absent.
    pub fn entry_or_default(&mut self, key: &str) -> &mut V
    where
        V: Default,
    {
        let key = key.to_lowercase().into_bytes();
        let i = match self.slot(&key) {
            Ok(i) => i,
            Err(at) => {
                let i = self.entries.len();
                self.slots[at] = u32::try_from(i).expect("fewer than 4 billion keys");
                self.entries.push((key.into(), V::default()));
                if self.entries.len() * 2 > self.slots.len() {
                    self.grow();
                }
                i
            }
        };
        &mut self.entries[i].1
    }

    fn grow(&mut self) {
        self.slots = vec![EMPTY; self.slots.len() * 2];
        for i in 0..self.entries.len() {
            if let Err(at) = self.slot(&self.entries[i].0) {
                self.slots[at] = i as u32;
            }
        }
    }

    /// The value under `key`, ignoring case.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&V> {
        let found = if key.is_ascii() { self.slot(key.as_bytes()) } else { self.slot(key.to_lowercase().as_bytes()) };
        found.ok().map(|i| &self.entries[i].1)
    }

    /// How many keys.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_ignoring_case_and_others_are_not() {
        let mut map: CaselessMap<Vec<usize>> = CaselessMap::default();
        let names: Vec<String> = (0..300).map(|i| format!("CreateThing{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            map.entry_or_default(name).push(i);
        }
        map.entry_or_default("creatething7").push(1000);
        assert_eq!(map.len(), 300);
        for (i, name) in names.iter().enumerate() {
            let want = if i == 7 { vec![7, 1000] } else { vec![i] };
            assert_eq!(map.get(name), Some(&want), "{name}");
            assert_eq!(map.get(&name.to_uppercase()), Some(&want), "{name}");
            assert_eq!(map.get(&name.to_lowercase()), Some(&want), "{name}");
        }
        for absent in ["", "CreateThing", "CreateThing300", "CreateThing1 ", "CreateThinG-1", "Create@hing1"] {
            assert_eq!(map.get(absent), None, "{absent}");
        }
    }

    #[test]
    fn the_case_bit_alone_does_not_make_keys_equal() {
        // `@` and `` ` `` (or `[` and `{`) differ only in the 0x20 bit and hash alike.
        let mut map: CaselessMap<u8> = CaselessMap::default();
        *map.entry_or_default("a@b") = 1;
        *map.entry_or_default("a[b") = 2;
        assert_eq!(map.get("A@B"), Some(&1));
        assert_eq!(map.get("a`b"), None);
        assert_eq!(map.get("a{b"), None);
        assert_eq!(map.get("A[b"), Some(&2));
    }

    /// Misses (most events' names) end on an empty slot after a short probe.
    #[test]
    fn probes_stay_short_for_names_like_cloudtrails() {
        let mut map: CaselessMap<usize> = CaselessMap::default();
        let verbs = ["create", "delete", "update", "put", "get", "describe", "list", "attach", "detach", "modify"];
        let nouns = ["user", "role", "policy", "bucket", "instances", "snapshot", "keypair", "trail", "loginprofile"];
        for v in verbs.iter().take(5) {
            for n in nouns {
                *map.entry_or_default(&format!("{v}{n}")) = 0;
            }
        }
        let probes = |key: &str| {
            let bits = map.slots.len().trailing_zeros();
            let mut at = (hash(key.as_bytes()) >> (64 - bits)) as usize;
            let mut n = 1;
            while map.slots[at] != EMPTY {
                at = (at + 1) & (map.slots.len() - 1);
                n += 1;
            }
            n
        };
        let misses: Vec<usize> = verbs[5..].iter().flat_map(|v| nouns.map(|n| probes(&format!("{v}{n}")))).collect();
        let mean = misses.iter().sum::<usize>() as f64 / misses.len() as f64;
        assert!(mean < 3.0, "{mean} {misses:?}");
    }

    #[test]
    fn keys_that_are_not_ascii_are_lowercased_first() {
        let mut map: CaselessMap<u8> = CaselessMap::default();
        *map.entry_or_default("Éclair") = 1;
        *map.entry_or_default("key") = 2;
        assert_eq!(map.get("ÉCLAIR"), Some(&1));
        assert_eq!(map.get("éclair"), Some(&1));
        // The Kelvin sign lowercases to an ASCII `k`.
        assert_eq!(map.get("\u{212A}EY"), Some(&2));
        assert_eq!(map.get("Eclair"), None);
    }

    #[test]
    fn long_keys_and_keys_of_every_length_up_to_two_words() {
        let mut map: CaselessMap<usize> = CaselessMap::default();
        let keys: Vec<String> =
            (0..=40).map(|n| "abcdefghijklmnopqrstuvwxyz0123456789-._:/"[..n].to_string()).collect();
        for (i, k) in keys.iter().enumerate() {
            *map.entry_or_default(k) = i;
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(map.get(&k.to_ascii_uppercase()), Some(&i), "{k:?}");
        }
    }
}
