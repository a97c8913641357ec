-- meterline output tables (DuckDB). Keys are stated; amounts are exact decimals.
-- amount_exact: unrounded, DECIMAL(38,15). amount/subtotal/total: rounded once to the
-- currency's minor unit (half away from zero), stored at DECIMAL(38,4).

CREATE TABLE IF NOT EXISTS billing_runs (
    run_id               VARCHAR PRIMARY KEY,   -- run-<period>-<fingerprint of inputs>
    billing_period       VARCHAR NOT NULL,      -- YYYY-MM (a progressive run: YYYY-MM-DD)
    kind                 VARCHAR NOT NULL,      -- period | progressive
    status               VARCHAR NOT NULL,      -- draft | completed (written whole or not at all)
    started_at           TIMESTAMPTZ NOT NULL,
    finished_at          TIMESTAMPTZ NOT NULL,
    catalog_sha256       VARCHAR NOT NULL,
    contracts_sha256     VARCHAR NOT NULL,
    events_sha256        VARCHAR NOT NULL,      -- of the ingestion batch ids the run read
    ingest_batches       INTEGER NOT NULL,      -- committed batches holding the period's dates
    events_read          BIGINT NOT NULL,       -- = rated + quarantined + out_of_period
    events_rated         BIGINT NOT NULL,
    events_quarantined   BIGINT NOT NULL,       -- no active subscription at the event's time
    events_out_of_period BIGINT NOT NULL,       -- in the dates read, but another period
    customers_billed     INTEGER NOT NULL,
    invoice_count        INTEGER NOT NULL,
    rated_charge_count   BIGINT NOT NULL,
    periods_adjusted     INTEGER NOT NULL,      -- earlier periods re-rated for some customers
    adjustment_count     BIGINT NOT NULL,       -- adjustment lines among the rated charges
    meterline_version    VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS rated_charges (
    run_id           VARCHAR NOT NULL,
    billing_period   VARCHAR NOT NULL,
    subscription_id  VARCHAR NOT NULL,
    customer_id      VARCHAR NOT NULL,
    plan_code        VARCHAR NOT NULL,
    charge_code      VARCHAR NOT NULL,
    charge_name      VARCHAR NOT NULL,
    charge_position  INTEGER NOT NULL,          -- order of the charge in its plan
    charge_model     VARCHAR NOT NULL,
    meter_code       VARCHAR,                   -- null for fixed fees
    period_start     TIMESTAMPTZ NOT NULL,      -- [period_start, period_end), UTC instants
    period_end       TIMESTAMPTZ NOT NULL,
    dimensions       VARCHAR NOT NULL,          -- JSON object of group_by values, '{}' if none
    quantity         DECIMAL(38,6) NOT NULL,
    event_count      BIGINT NOT NULL,
    amount_exact     DECIMAL(38,15) NOT NULL,
    amount           DECIMAL(38,4) NOT NULL,
    currency         VARCHAR NOT NULL,
    tier_breakdown   STRUCT(tier INTEGER, units DECIMAL(38,6), unit_price DECIMAL(38,9),
                            flat_fee DECIMAL(38,15), amount DECIMAL(38,15))[],
    prorated_days    INTEGER,                   -- a fee for part of its period: days billed
    period_days      INTEGER,                   -- ... of the period's days (null: not prorated)
    adjusted_period  VARCHAR,                   -- an adjustment: the period whose lines it corrects
    PRIMARY KEY (run_id, subscription_id, charge_code, period_start, dimensions)
);

CREATE TABLE IF NOT EXISTS invoices (
    invoice_id      VARCHAR PRIMARY KEY,        -- INV-YYYYMM-NNNNNN
    run_id          VARCHAR NOT NULL,
    billing_period  VARCHAR NOT NULL,
    customer_id     VARCHAR NOT NULL,
    customer_name   VARCHAR NOT NULL,
    timezone        VARCHAR NOT NULL,           -- the customer's: local dates on the document
    currency        VARCHAR NOT NULL,
    period_start    TIMESTAMPTZ NOT NULL,
    period_end      TIMESTAMPTZ NOT NULL,
    issue_date      DATE NOT NULL,
    status          VARCHAR NOT NULL,           -- draft, then issued: never changed again
    line_count      INTEGER NOT NULL,
    subtotal        DECIMAL(38,4) NOT NULL,     -- sum of the lines' net amounts, exactly
    tax_total       DECIMAL(38,4) NOT NULL,     -- sum of the lines' taxes, exactly
    total           DECIMAL(38,4) NOT NULL      -- subtotal + tax_total
);

CREATE TABLE IF NOT EXISTS invoice_lines (
    invoice_id       VARCHAR NOT NULL,
    line_number      INTEGER NOT NULL,
    run_id           VARCHAR NOT NULL,
    customer_id      VARCHAR NOT NULL,
    subscription_id  VARCHAR NOT NULL,
    plan_code        VARCHAR NOT NULL,
    charge_code      VARCHAR NOT NULL,
    description      VARCHAR NOT NULL,
    meter_code       VARCHAR,
    dimensions       VARCHAR NOT NULL,
    period_start     TIMESTAMPTZ NOT NULL,
    period_end       TIMESTAMPTZ NOT NULL,
    quantity         DECIMAL(38,6) NOT NULL,
    amount           DECIMAL(38,4) NOT NULL,
    currency         VARCHAR NOT NULL,
    adjusted_period  VARCHAR,                   -- an adjustment: the period it corrects
    tax_code         VARCHAR NOT NULL,          -- domestic, reverse_charge, ... (rating/tax.py)
    tax_rate         DECIMAL(9,4) NOT NULL,     -- percent
    tax_amount       DECIMAL(38,4) NOT NULL,    -- this line's tax, rounded once
    PRIMARY KEY (invoice_id, line_number)
);

CREATE TABLE IF NOT EXISTS quarantine (
    batch_id     VARCHAR,                       -- the ingestion batch that set the row aside
    run_id       VARCHAR,                       -- or the billing run (no_active_subscription)
    source_file  VARCHAR NOT NULL,
    row_number   BIGINT NOT NULL,               -- 1-based row in source_file
    event_id     VARCHAR,
    field        VARCHAR NOT NULL,
    reason       VARCHAR NOT NULL,              -- see QuarantineReason
    detail       VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS ingest_batches (
    batch_id          VARCHAR PRIMARY KEY,      -- b-<fingerprint of the new files and inputs>
    status            VARCHAR NOT NULL,         -- committed (a batch lands whole or not at all)
    started_at        TIMESTAMPTZ NOT NULL,
    finished_at       TIMESTAMPTZ NOT NULL,
    store_path        VARCHAR NOT NULL,         -- the event store directory it landed in
    catalog_sha256    VARCHAR NOT NULL,
    customers_sha256  VARCHAR NOT NULL,
    source_files      INTEGER NOT NULL,         -- files read (ingested or rejected)
    files_rejected    INTEGER NOT NULL,         -- unreadable files: nothing of them landed
    rows_read         BIGINT NOT NULL,          -- = accepted + quarantined + duplicate + conflict
    rows_accepted     BIGINT NOT NULL,
    rows_quarantined  BIGINT NOT NULL,
    rows_duplicate    BIGINT NOT NULL,          -- same event_id and content as a first arrival
    rows_conflict     BIGINT NOT NULL,          -- same event_id, different content
    rows_late         BIGINT NOT NULL,          -- accepted, for an already-invoiced period
    meterline_version VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS ingest_files (
    batch_id          VARCHAR NOT NULL,
    source_file       VARCHAR NOT NULL,
    sha256            VARCHAR NOT NULL,         -- of the file's bytes: re-delivery is a no-op
    size_bytes        BIGINT NOT NULL,
    status            VARCHAR NOT NULL,         -- ingested | rejected
    error             VARCHAR,                  -- why a rejected file could not be read
    rows_read         BIGINT NOT NULL,          -- = accepted + quarantined + duplicate + conflict
    rows_accepted     BIGINT NOT NULL,
    rows_quarantined  BIGINT NOT NULL,
    rows_duplicate    BIGINT NOT NULL,
    rows_conflict     BIGINT NOT NULL,
    rows_late         BIGINT NOT NULL,
    PRIMARY KEY (batch_id, source_file)
);

CREATE TABLE IF NOT EXISTS period_inputs (
    billing_period   VARCHAR NOT NULL,          -- a period rated (billed, or re-rated)
    customer_id      VARCHAR NOT NULL,
    run_id           VARCHAR NOT NULL,          -- the run that rated it
    inputs_sha256    VARCHAR NOT NULL,          -- the customer's contract rows and plans then
    PRIMARY KEY (billing_period, customer_id, run_id)
);

CREATE TABLE IF NOT EXISTS period_batches (
    billing_period   VARCHAR NOT NULL,
    batch_id         VARCHAR NOT NULL,          -- an ingestion batch whose events it read
    run_id           VARCHAR NOT NULL,
    PRIMARY KEY (billing_period, batch_id, run_id)
);

CREATE TABLE IF NOT EXISTS contract_segments (
    run_id           VARCHAR NOT NULL,          -- the run that billed with these contracts
    subscription_id  VARCHAR NOT NULL,          -- a subscription changed by changes.csv
    start_date       DATE NOT NULL,             -- [start_date, end_date): local dates
    end_date         DATE,
    customer_id      VARCHAR NOT NULL,
    plan_code        VARCHAR NOT NULL,
    item_quantity    BIGINT NOT NULL,
    paused           BOOLEAN NOT NULL,
    end_reason       VARCHAR,                   -- the change that ended it (with its reason)
    PRIMARY KEY (run_id, subscription_id, start_date)
);

CREATE OR REPLACE VIEW invoice_taxes AS   -- an invoice's tax per treatment and rate
SELECT invoice_id, currency, tax_code, tax_rate,
       sum(amount) AS taxable_amount, sum(tax_amount) AS tax_amount
FROM invoice_lines GROUP BY ALL;
