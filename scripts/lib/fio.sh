# fio runs that give the disk's own limits, for benchmarks to stand beside. Sourced, not run.
# Each function writes fio's JSON report to the given file and removes its data file.

# fio_sequential_write DIRECTORY BLOCK_SIZE IO_DEPTH SECONDS OUTPUT_JSON
# O_DIRECT sequential writes through io_uring to a fresh file (like a log's new segment).
fio_sequential_write() {
    local directory=$1 block_size=$2 depth=$3 seconds=$4 output=$5
    rm -f "$directory/fio.dat"
    fio --name=sequential-write --filename="$directory/fio.dat" --rw=write --bs="$block_size" \
        --size=12G --direct=1 --ioengine=io_uring --iodepth="$depth" \
        --time_based --runtime="$seconds" --output-format=json >"$output"
    rm -f "$directory/fio.dat"
}

# fio_fdatasync_write DIRECTORY BLOCK_SIZE SECONDS OUTPUT_JSON
# One O_DIRECT write then one fdatasync at a time: the device's durable-write latency.
fio_fdatasync_write() {
    local directory=$1 block_size=$2 seconds=$3 output=$4
    rm -f "$directory/fio.dat"
    fio --name=fdatasync-write --filename="$directory/fio.dat" --rw=write --bs="$block_size" \
        --size=4G --direct=1 --ioengine=psync --fdatasync=1 \
        --time_based --runtime="$seconds" --output-format=json >"$output"
    rm -f "$directory/fio.dat"
}
