"""sbir_tf.paths: a file's digest."""
import hashlib

from sbir_tf.paths import file_sha256


def test_file_sha256_is_the_digest_of_the_bytes_across_chunks(tmp_path):
    data = bytes(range(256)) * 8193  # a little over two 1 MiB chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one flipped bit at the end of the last chunk
    assert file_sha256(path) != hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()
