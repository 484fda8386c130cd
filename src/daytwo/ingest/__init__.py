"""Getting interaction data in: API batches, file import, and the shared decode/validate path."""

from daytwo.ingest.decode import Decoded, decode_json, decode_ndjson, decode_objects
from daytwo.ingest.service import IngestResult, ingest

__all__ = ["Decoded", "IngestResult", "decode_json", "decode_ndjson", "decode_objects", "ingest"]
