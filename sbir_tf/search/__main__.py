"""``python -m sbir_tf.search``: see :mod:`sbir_tf.search.cli`."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sbir_tf.search.cli import main  # noqa: E402 - after the log level is set

if __name__ == "__main__":
    raise SystemExit(main())
