"""Dataset readers, splits, the tf.data pipeline and the synthetic embedded dataset."""
from sbir_tf.data.records import (  # noqa: F401
    DOMAINS, PHOTO, SKETCH, DataError, DatasetIndex, Record, Skipped, array_ref, canonical_class_name,
)
