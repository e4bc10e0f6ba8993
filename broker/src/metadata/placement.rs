//! Which shard owns a new partition.
//!
//! Rule: each new partition goes to the shard that owns the fewest partitions at that moment
//! (counting the ones placed earlier in the same request), ties going to the lowest shard
//! index. It is balanced (shard loads never differ by more than one when partitions are only
//! added) and deterministic (the same image and request give the same answer). The answer is
//! recorded in the metadata record, so the rule may change without moving existing partitions.

use super::image::MetadataImage;

/// Shards for `count` new partitions, given the current image and `shard_count` shards.
pub fn place_partitions(image: &MetadataImage, shard_count: usize, count: usize) -> Vec<u32> {
    let mut loads = image.partitions_per_shard(shard_count);
    (0..count)
        .map(|_| {
            let (shard, _) = loads
                .iter()
                .enumerate()
                .min_by_key(|(shard, load)| (**load, *shard))
                .expect("at least one shard");
            loads[shard] += 1;
            shard as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{MetadataRecord, TopicId};

    #[test]
    fn placement_balances_across_topics_and_is_deterministic() {
        let mut image = MetadataImage::new();
        let first = place_partitions(&image, 3, 4);
        assert_eq!(first, vec![0, 1, 2, 0]);
        image
            .apply(
                0,
                &MetadataRecord::CreateTopic {
                    name: "a".into(),
                    id: TopicId::random(),
                    partition_shards: first,
                    configs: vec![],
                },
            )
            .unwrap();
        let second = place_partitions(&image, 3, 5);
        assert_eq!(second, vec![1, 2, 0, 1, 2]);
        assert_eq!(place_partitions(&image, 3, 5), second);
        let mut loads = image.partitions_per_shard(3);
        for shard in second {
            loads[shard as usize] += 1;
        }
        assert_eq!(loads, vec![3, 3, 3]);
    }
}
