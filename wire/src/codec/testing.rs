//! Random message values for tests, benchmarks and fuzzing (feature `arbitrary`).
//!
//! The generator writes a `generate` function for every struct that fills each field that
//! exists at the requested version with a random value, leaves the others at their defaults,
//! and uses null only where the version allows it, so that every generated value can be
//! encoded at that version and decodes back to itself.

use super::decode::RawTaggedField;
use super::kstr::KStr;
use super::uuid::Uuid;
use bytes::Bytes;

/// Tags of generated unknown tagged fields start here, above every tag the schemas use.
pub const UNKNOWN_TAG_FIRST: u32 = 1000;

/// A small deterministic random source (SplitMix64) with helpers for message fields.
#[derive(Debug, Clone)]
pub struct ValueGenerator {
    state: u64,
    /// Arrays get at most this many elements.
    pub array_elements_max: usize,
    /// Strings and byte fields get at most this many bytes.
    pub bytes_max: usize,
}

impl ValueGenerator {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            array_elements_max: 3,
            bytes_max: 24,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// True one time in four: used to decide on nulls.
    pub fn null(&mut self) -> bool {
        self.below(4) == 0
    }

    /// A random boolean.
    pub fn bool(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// A random int8.
    pub fn i8(&mut self) -> i8 {
        self.next_u64() as i8
    }

    /// A random int16.
    pub fn i16(&mut self) -> i16 {
        self.next_u64() as i16
    }

    /// A random uint16.
    pub fn u16(&mut self) -> u16 {
        self.next_u64() as u16
    }

    /// A random int32, often small or an edge value.
    pub fn i32(&mut self) -> i32 {
        match self.below(4) {
            0 => [0, -1, i32::MAX, i32::MIN][self.below(4) as usize],
            1 => self.below(100) as i32,
            _ => self.next_u64() as i32,
        }
    }

    /// A random int64, often small or an edge value.
    pub fn i64(&mut self) -> i64 {
        match self.below(4) {
            0 => [0, -1, i64::MAX, i64::MIN][self.below(4) as usize],
            1 => self.below(1000) as i64,
            _ => self.next_u64() as i64,
        }
    }

    /// A random finite float64.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() as i32) as f64 / 7.0
    }

    /// A random UUID.
    pub fn uuid(&mut self) -> Uuid {
        Uuid::from_u128((u128::from(self.next_u64()) << 64) | u128::from(self.next_u64()))
    }

    /// A random string, sometimes with multi-byte characters.
    pub fn string(&mut self) -> KStr {
        const ALPHABET: [char; 8] = ['a', 'z', '0', '-', '_', '.', 'é', '€'];
        let length = self.below(self.bytes_max as u64 / 3 + 1) as usize;
        let text: String = (0..length)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect();
        KStr::from(text)
    }

    /// Random bytes.
    pub fn bytes(&mut self) -> Bytes {
        let length = self.below(self.bytes_max as u64 + 1) as usize;
        Bytes::from(
            (0..length)
                .map(|_| self.next_u64() as u8)
                .collect::<Vec<u8>>(),
        )
    }

    /// An array of random length whose elements come from `element`.
    pub fn array<T>(&mut self, mut element: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let count = self.below(self.array_elements_max as u64 + 1) as usize;
        (0..count).map(|_| element(self)).collect()
    }

    /// Zero to two unknown tagged fields with ascending tags from [`UNKNOWN_TAG_FIRST`].
    pub fn unknown_tagged_fields(&mut self) -> Vec<RawTaggedField> {
        let count = self.below(3);
        let mut tag = UNKNOWN_TAG_FIRST;
        (0..count)
            .map(|_| {
                tag += 1 + self.below(100) as u32;
                RawTaggedField {
                    tag,
                    data: self.bytes(),
                }
            })
            .collect()
    }
}

/// A struct whose random values the generator knows how to build.
pub trait Generate: Sized {
    /// A random value that is valid at `version`.
    fn generate(generator: &mut ValueGenerator, version: i16) -> Self;
}
