"""Command-line options shared by the commands, each with its help text.

Every option defaults to None so that only the options actually given override the config file.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

_READ = "Reading"
_FIND = "Choosing files"
_WRITE = "Writing"
_RUN = "Running"
_S3 = "Storage"
_SCHEMA = "Schema"

Source = Annotated[
    str | None,
    typer.Argument(
        help="Where the files are: a local folder or an fsspec URL (s3://bucket/prefix/).",
        show_default=False,
    ),
]
Dest = Annotated[
    str | None,
    typer.Argument(help="Where the rows go: a local folder or an fsspec URL.", show_default=False),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML file with any of these options (as keys); options given here win. Relative paths in it (source, dest, state, dead-letter) are relative to the file's folder.",
        show_default=False,
    ),
]
Name = Annotated[
    str | None,
    typer.Option(
        help="Pipeline name: the namespace of its state. Default: derived from SOURCE and DEST.",
        show_default=False,
        rich_help_panel=_RUN,
    ),
]
State = Annotated[
    str | None,
    typer.Option(
        help="SQLite state file, a local path. Default: $REPLICATOR_STATE, else $XDG_STATE_HOME/replicator/state.db, else ~/.local/state/replicator/state.db.",
        show_default=False,
        rich_help_panel=_RUN,
    ),
]
Format = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="Input format: csv, tsv, json, jsonl, parquet, lines or raw. Default: from each file's extension. json (.json) detects a JSON array of objects, objects or JSON lines; jsonl reads JSON lines only.",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
Compression = Annotated[
    str | None,
    typer.Option(
        help="Input compression: infer (extension, then magic bytes), none, gzip, zstd, bz2 or xz. \\[default: infer]",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
ChunkSize = Annotated[
    str | None,
    typer.Option(
        help="Bytes read per chunk, e.g. 8MiB. Memory per file in work is about this. \\[default: 8MiB]",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
SystemColumns = Annotated[
    bool | None,
    typer.Option(
        "--system-columns/--no-system-columns",
        help="Add _file (source key) and _row (row index in the file) to every row. \\[default: on]",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
CsvDelimiter = Annotated[
    str | None,
    typer.Option(
        help="CSV field delimiter. \\[default: ',' for csv, tab for tsv]",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
CsvHeader = Annotated[
    bool | None,
    typer.Option(
        "--csv-header/--csv-no-header",
        help="Whether the first CSV line names the columns. \\[default: header]",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
CsvColumnNames = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated CSV column names (replace the header, or name headerless columns).",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
CsvColumnTypes = Annotated[
    str | None,
    typer.Option(
        help="An alias of --schema-hints, kept for CSV users.",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
SchemaHints = Annotated[
    str | None,
    typer.Option(
        help="Types of some columns, for every format: NAME:TYPE pairs separated by commas, e.g. "
        "'id:int64, ts:timestamp\\[ms, tz=UTC], price:decimal128(12,2), payload.user.id:string' "
        "(a dotted name is a field of a nested column). Types: int8 to int64, uint8 to uint64, "
        "float32, float64, bool, string, binary, date32, date64, time32\\[s], "
        "timestamp\\[s|ms|us|ns] (timestamp\\[ms, tz=UTC] for a time zone), decimal128(p,s). A "
        "hinted column always has its type; a value that does not fit it is rescued. The other "
        "columns' types are inferred across a sample of the files. \\[default: none]",
        show_default=False,
        rich_help_panel=_SCHEMA,
    ),
]
SchemaEvolution = Annotated[
    str | None,
    typer.Option(
        help="When data does not fit the pipeline's schema: add-columns (a new field becomes a "
        "column, a value that needs a wider type of its kind widens its column, and the file is "
        "read again), rescue (the schema never changes after inference: new fields and values "
        "that do not fit go to the rescued-data column), fail (the first change fails the file, "
        "naming the column and the row), none (new fields are ignored, values that do not fit "
        "are rescued). Whatever the mode, a value of another kind (text where a number was) is "
        "rescued. \\[default: add-columns]",
        show_default=False,
        rich_help_panel=_SCHEMA,
    ),
]
RescuedDataColumn = Annotated[
    str | None,
    typer.Option(
        help="Name of the column that keeps, as a JSON object, the values of a row that do not "
        "fit the schema (with the source key under _file); '' switches it off, and such a row "
        "fails its file. \\[default: _rescued_data]",
        show_default=False,
        rich_help_panel=_SCHEMA,
    ),
]
SchemaSampleFiles = Annotated[
    int | None,
    typer.Option(
        help="Files whose first block the schema is inferred from. \\[default: 1000]",
        show_default=False,
        rich_help_panel=_SCHEMA,
    ),
]
SchemaSampleBytes = Annotated[
    str | None,
    typer.Option(
        help="Most bytes read to infer the schema, e.g. 256MiB. \\[default: 256MiB]",
        show_default=False,
        rich_help_panel=_SCHEMA,
    ),
]
CsvNullValues = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated spellings of null in CSV. An unquoted field spelled so, or empty, "
        'is null in every column, text columns too; a quoted one never is ("" is an empty '
        "string). \\[default: pyarrow's: NULL, null, NaN, nan, NA, N/A, n/a, #N/A, #N/A N/A, "
        "#NA, -NaN, -nan, 1.#IND, -1.#IND, 1.#QNAN, -1.#QNAN]",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
Encoding = Annotated[
    str | None,
    typer.Option(
        help="Text encoding of csv, tsv, jsonl and lines files: utf-8, latin-1, cp1252, utf-16 "
        "(the byte-order mark says which byte order; little-endian without one), utf-16-le or "
        "utf-16-be. Files are decoded to UTF-8 as they are read. A UTF-8 byte-order mark is "
        "dropped. \\[default: utf-8]",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
InferTypes = Annotated[
    bool | None,
    typer.Option(
        "--infer-types/--no-infer-types",
        help="Infer CSV and JSON column types from the first rows. With --no-infer-types every "
        "column is text (CSV columns in --csv-column-types keep their type): a CSV value as "
        'written (00001 stays 00001); a JSON string as is, true/false as "true"/"false", '
        "an integer as its digits, any other number as its shortest decimal form (1.50 gives "
        '"1.5", 1e3 "1000"), an object or array as compact JSON text (members that are null '
        "left out), null as null. \\[default: infer]",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
Include = Annotated[
    list[str] | None,
    typer.Option(
        "--include",
        "-i",
        help="Glob of keys to take (repeatable). Without '/' it matches file names at any depth (*.csv.gz); with '/' whole keys, ** spanning folders. Files and folders whose names start with '.' or '_' are left out unless a pattern that starts a name so matches them (e.g. '_staging/**').",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        "-x",
        help="Glob of keys to leave out (repeatable); wins over --include.",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
ModifiedAfter = Annotated[
    str | None,
    typer.Option(
        help="Only files modified after this time (ISO 8601, e.g. 2026-01-31T00:00:00Z).",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
MinAge = Annotated[
    str | None,
    typer.Option(
        help="Leave files modified less than this long ago (e.g. 10s, 2m) for a later run or "
        "poll: they may still be being written. \\[default: 5s for watch by polling, 0 for "
        "snapshot and watch --sqs]",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
FollowSymlinks = Annotated[
    bool | None,
    typer.Option(
        "--follow-symlinks/--no-follow-symlinks",
        help="In a local source, follow symbolic links to files and folders (a folder reached "
        "twice is listed once). \\[default: follow]",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
SkipEmpty = Annotated[
    bool | None,
    typer.Option(
        "--skip-empty/--keep-empty",
        help="Skip zero-byte files. \\[default: skip]",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
OutputFormat = Annotated[
    str | None,
    typer.Option(
        help="Output format: parquet, jsonl, csv, or raw (byte-for-byte mirror). \\[default: parquet]",
        show_default=False,
        rich_help_panel=_WRITE,
    ),
]
Concurrency = Annotated[
    int | None,
    typer.Option(
        help="Files replicated in parallel. \\[default: 2 x cores, 2 to 16]",
        show_default=False,
        rich_help_panel=_RUN,
    ),
]
InflightLimit = Annotated[
    str | None,
    typer.Option(
        help="Most bytes read and not yet written by the sink, e.g. 64MiB, 1GiB. \\[default: 256MiB]",
        show_default=False,
        rich_help_panel=_RUN,
    ),
]
FullRefresh = Annotated[
    bool | None,
    typer.Option(
        "--full-refresh",
        help="Start over: forget what was done, infer the schema again and replicate every file. After a change of output format, each file's output in the old format is removed once its new one is in place. Needed when a setting that shapes the output changed.",
        show_default=False,
        rich_help_panel=_RUN,
    ),
]
OnBadRows = Annotated[
    str | None,
    typer.Option(
        help="A row that cannot be parsed (wrong field count, invalid JSON, not an object, a value that does not fit its column's type, a line that is not UTF-8): fail (its file fails), skip (count it), or dead-letter (count it and write it, with file, line or row number, raw text and reason, to --dead-letter). \\[default: dead-letter]",
        show_default=False,
        rich_help_panel=_READ,
    ),
]
DeadLetterUrl = Annotated[
    str | None,
    typer.Option(
        "--dead-letter",
        help="Where bad rows go: one <key>.badrows.jsonl per source file with bad rows, written when the file is committed. \\[default: DEST/_dead_letter]",
        show_default=False,
        rich_help_panel=_WRITE,
    ),
]
RetryFailed = Annotated[
    bool | None,
    typer.Option(
        "--retry-failed",
        help="Try again files that failed before at the same version (by default they are skipped and reported).",
        show_default=False,
        rich_help_panel=_RUN,
    ),
]
Quiet = Annotated[
    bool | None,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress output; only errors and the exit code.",
        show_default=False,
        rich_help_panel=_RUN,
    ),
]
LogFormat = Annotated[
    str | None,
    typer.Option(
        help="Progress output: auto (a live view on a terminal, log lines elsewhere), text (log "
        "lines), or json (one JSON object per line, for machines). \\[default: auto]",
        show_default=False,
        rich_help_panel=_RUN,
    ),
]
MetricsPort = Annotated[
    int | None,
    typer.Option(
        help="Serve Prometheus metrics on this port at /metrics (0: any free port). \\[default: off]",
        show_default=False,
        rich_help_panel=_RUN,
    ),
]
MetricsHost = Annotated[
    str | None,
    typer.Option(
        help="Address the metrics server listens on. \\[default: 127.0.0.1]",
        show_default=False,
        rich_help_panel=_RUN,
    ),
]
Debug = Annotated[
    bool,
    typer.Option("--debug", help="Show full tracebacks on errors.", rich_help_panel=_RUN),
]
EndpointUrl = Annotated[
    str | None,
    typer.Option(
        help="S3-compatible endpoint, e.g. http://127.0.0.1:9000. \\[default: AWS_ENDPOINT_URL, else AWS]",
        show_default=False,
        rich_help_panel=_S3,
    ),
]
Region = Annotated[
    str | None,
    typer.Option(
        help="AWS region. \\[default: from AWS_REGION / the profile]",
        show_default=False,
        rich_help_panel=_S3,
    ),
]
Profile = Annotated[
    str | None,
    typer.Option(
        help="AWS profile from ~/.aws/config. \\[default: AWS_PROFILE]",
        show_default=False,
        rich_help_panel=_S3,
    ),
]
VerifyTls = Annotated[
    bool | None,
    typer.Option(
        "--verify-tls/--no-verify-tls",
        help="Verify TLS certificates. Turn off only for a test endpoint you trust. \\[default: verify]",
        show_default=False,
        rich_help_panel=_S3,
    ),
]
Once = Annotated[
    bool,
    typer.Option(
        "--once",
        help="One discovery-and-replicate pass, then exit (for cron and CI).",
        rich_help_panel=_RUN,
    ),
]
PollInterval = Annotated[
    str | None,
    typer.Option(
        help="Time between listings, e.g. 30s, 5m. Doubles while nothing changes, up to --max-poll-interval. \\[default: 30s]",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
MaxPollInterval = Annotated[
    str | None,
    typer.Option(
        help="Longest time between listings when nothing changes. \\[default: 5m]",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
PollOverlap = Annotated[
    str | None,
    typer.Option(
        help="Files older than the watermark minus this window count as done without a state record, which keeps the state bounded; make it longer than your longest upload. \\[default: 1h]",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
Sqs = Annotated[
    str | None,
    typer.Option(
        "--sqs",
        help="SQS queue URL receiving the source bucket's S3 event notifications: replicate from them instead of polling the listing.",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
Backfill = Annotated[
    bool | None,
    typer.Option(
        "--backfill",
        help="With --sqs: first replicate what is already in the bucket (one listing), then continue from the queue.",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
PropagateDeletes = Annotated[
    bool | None,
    typer.Option(
        "--propagate-deletes",
        help="With --sqs: on ObjectRemoved events, remove the replicated output and the file's state entry. \\[default: off; such messages are just deleted]",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
SqsWaitSeconds = Annotated[
    int | None,
    typer.Option(
        help="With --sqs: long-poll wait per receive, 0 to 20 seconds. \\[default: 20]",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]
VisibilityTimeout = Annotated[
    int | None,
    typer.Option(
        help="With --sqs: seconds a received message stays hidden; extended while its files are in work. \\[default: the queue's]",
        show_default=False,
        rich_help_panel=_FIND,
    ),
]


def _pipeline_options(
    source: Source = None,
    dest: Dest = None,
    config: ConfigFile = None,
    name: Name = None,
    state: State = None,
    format: Format = None,
    compression: Compression = None,
    chunk_size: ChunkSize = None,
    system_columns: SystemColumns = None,
    csv_delimiter: CsvDelimiter = None,
    csv_header: CsvHeader = None,
    csv_column_names: CsvColumnNames = None,
    csv_column_types: CsvColumnTypes = None,
    csv_null_values: CsvNullValues = None,
    schema_hints: SchemaHints = None,
    schema_evolution: SchemaEvolution = None,
    rescued_data_column: RescuedDataColumn = None,
    schema_sample_files: SchemaSampleFiles = None,
    schema_sample_bytes: SchemaSampleBytes = None,
    encoding: Encoding = None,
    infer_types: InferTypes = None,
    include: Include = None,
    exclude: Exclude = None,
    modified_after: ModifiedAfter = None,
    skip_empty: SkipEmpty = None,
    min_age: MinAge = None,
    follow_symlinks: FollowSymlinks = None,
    on_bad_rows: OnBadRows = None,
    dead_letter: DeadLetterUrl = None,
    output_format: OutputFormat = None,
    concurrency: Concurrency = None,
    inflight_limit: InflightLimit = None,
    quiet: Quiet = None,
    log_format: LogFormat = None,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = None,
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    profile: Profile = None,
    verify_tls: VerifyTls = None,
    debug: Debug = False,
) -> None:
    """The options every pipeline command takes; never called, only its signature is used."""


def pipeline_command(func: Callable[..., None]) -> Callable[..., None]:
    """Give ``func`` (which takes ``**options``) the shared pipeline options before its own."""
    shared = inspect.signature(_pipeline_options, eval_str=True).parameters.values()
    own = [
        p
        for p in inspect.signature(func, eval_str=True).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    params = [*shared, *own]
    func.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    func.__annotations__ = {p.name: p.annotation for p in params}
    return func
