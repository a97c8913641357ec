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
    adjusted_period  VARCHAR                    -- an adjustment: the period whose lines it corrects
    -- key (run_id, subscription_id, charge_code, period_start, dimensions): checked before
    -- each write (jobs/store.py ROW_KEYS) rather than indexed: the index cost more than
    -- the rest of the write, for a key no query looks rows up by.
);

CREATE TABLE IF NOT EXISTS invoices (
    invoice_id      VARCHAR PRIMARY KEY,        -- INV-YYYYMM-NNNNNN
    run_id          VARCHAR NOT NULL,
    billing_period  VARCHAR NOT NULL,
    customer_id     VARCHAR NOT NULL,           -- the recipient (bill_to of its lines' accounts)
    customer_name   VARCHAR NOT NULL,
    timezone        VARCHAR NOT NULL,           -- the recipient's: local dates on the document
    currency        VARCHAR NOT NULL,
    period_start    TIMESTAMPTZ NOT NULL,
    period_end      TIMESTAMPTZ NOT NULL,
    issue_date      DATE NOT NULL,
    status          VARCHAR NOT NULL,           -- draft, then issued: never changed again
    line_count      INTEGER NOT NULL,
    account_count   INTEGER NOT NULL,           -- accounts whose lines it holds (consolidated: > 1)
    subtotal        DECIMAL(38,4) NOT NULL,     -- sum of the lines' net amounts, exactly
    tax_total       DECIMAL(38,4) NOT NULL,     -- sum of the lines' taxes, exactly
    total           DECIMAL(38,4) NOT NULL,     -- subtotal + tax_total
    credits_applied DECIMAL(38,4) NOT NULL,     -- paid from the recipient's prepaid credits
    amount_due      DECIMAL(38,4) NOT NULL      -- total - credits_applied
);
-- Databases created by an earlier meterline gain the columns added since, empty for the
-- invoices they already hold (which are never rewritten).
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS account_count INTEGER;
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS credits_applied DECIMAL(38,4);
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS amount_due DECIMAL(38,4);

CREATE TABLE IF NOT EXISTS invoice_lines (
    invoice_id       VARCHAR NOT NULL,
    line_number      INTEGER NOT NULL,
    run_id           VARCHAR NOT NULL,
    customer_id      VARCHAR NOT NULL,          -- the account the line is for (its subscription's)
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
    tax_amount       DECIMAL(38,4) NOT NULL     -- this line's tax, rounded once
    -- key (invoice_id, line_number): checked before each write, like rated_charges'
);

CREATE TABLE IF NOT EXISTS quarantine (
    batch_id     VARCHAR,                       -- the ingestion batch that set the row aside
    run_id       VARCHAR,                       -- or the billing run (no_active_subscription)
    source_file  VARCHAR NOT NULL,
    row_number   BIGINT NOT NULL,               -- 1-based row in source_file
    event_id     VARCHAR,
    field        VARCHAR NOT NULL,
    reason       VARCHAR NOT NULL,              -- see QuarantineReason
    detail       VARCHAR NOT NULL,
    billing_period VARCHAR,                     -- a billing run's row: the period it rated
    customer_id  VARCHAR                        -- ... and the event's customer
);
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS billing_period VARCHAR;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS customer_id VARCHAR;

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

CREATE TABLE IF NOT EXISTS account_hierarchy (  -- the account trees a run billed with
    run_id        VARCHAR NOT NULL,
    customer_id   VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    parent_id     VARCHAR,                      -- null: a root
    root_id       VARCHAR NOT NULL,
    depth         INTEGER NOT NULL,             -- a root is at depth 0
    bill_to       VARCHAR NOT NULL,             -- whose invoice carries its lines
    coterm_date   DATE,                         -- its anniversary plans renew on this date
    PRIMARY KEY (run_id, customer_id)
);

CREATE OR REPLACE VIEW invoice_accounts AS   -- each account's part of an invoice
SELECT invoice_id, customer_id, currency, count(*) AS line_count,
       sum(amount) AS subtotal, sum(tax_amount) AS tax_total,
       sum(amount) + sum(tax_amount) AS total
FROM invoice_lines GROUP BY ALL;

CREATE OR REPLACE VIEW account_closure AS    -- each account with itself and every ancestor
WITH RECURSIVE up(run_id, customer_id, ancestor_id, distance) AS (
    SELECT run_id, customer_id, customer_id, 0 FROM account_hierarchy
    UNION ALL
    SELECT up.run_id, up.customer_id, h.parent_id, up.distance + 1
    FROM up JOIN account_hierarchy h
      ON h.run_id = up.run_id AND h.customer_id = up.ancestor_id
    WHERE h.parent_id IS NOT NULL
)
SELECT run_id, customer_id, ancestor_id, distance FROM up;

-- Roll-ups, per billing period and node of a tree: the node's own figures and its
-- subtree's (the node and everything under it; a root's subtree is its whole tree).
CREATE OR REPLACE VIEW revenue_rollup AS
SELECT r.billing_period, c.ancestor_id AS account_id, h.root_id, h.depth, l.currency,
       count(DISTINCT l.customer_id) AS accounts_billed,
       coalesce(sum(l.amount) FILTER (WHERE c.distance = 0), 0) AS own_subtotal,
       sum(l.amount) AS subtotal,
       sum(l.tax_amount) AS tax_total,
       sum(l.amount) + sum(l.tax_amount) AS total
FROM invoice_lines l
JOIN billing_runs r ON r.run_id = l.run_id
JOIN account_closure c ON c.run_id = l.run_id AND c.customer_id = l.customer_id
JOIN account_hierarchy h ON h.run_id = c.run_id AND h.customer_id = c.ancestor_id
GROUP BY ALL;

CREATE OR REPLACE VIEW usage_rollup AS
SELECT q.billing_period, c.ancestor_id AS account_id, h.root_id, h.depth,
       q.meter_code, q.charge_code,
       coalesce(sum(q.quantity) FILTER (WHERE c.distance = 0), 0) AS own_quantity,
       sum(q.quantity) AS quantity,
       sum(q.event_count) AS event_count
FROM rated_charges q
JOIN account_closure c ON c.run_id = q.run_id AND c.customer_id = q.customer_id
JOIN account_hierarchy h ON h.run_id = c.run_id AND h.customer_id = c.ancestor_id
WHERE q.meter_code IS NOT NULL
GROUP BY ALL;

CREATE OR REPLACE VIEW invoice_rollup AS     -- invoices received in each subtree
SELECT i.billing_period, c.ancestor_id AS account_id, h.root_id, h.depth, i.currency,
       count(*) FILTER (WHERE c.distance = 0) AS own_invoices,
       coalesce(sum(i.total) FILTER (WHERE c.distance = 0), 0) AS own_total,
       count(*) AS invoices,
       sum(i.total) AS total
FROM invoices i
JOIN account_closure c ON c.run_id = i.run_id AND c.customer_id = i.customer_id
JOIN account_hierarchy h ON h.run_id = c.run_id AND h.customer_id = c.ancestor_id
GROUP BY ALL;

CREATE OR REPLACE VIEW revenue_by_level AS   -- each tree's revenue at each depth
SELECT r.billing_period, h.root_id, h.depth, l.currency,
       count(DISTINCT l.customer_id) AS accounts_billed,
       sum(l.amount) AS subtotal, sum(l.tax_amount) AS tax_total,
       sum(l.amount) + sum(l.tax_amount) AS total
FROM invoice_lines l
JOIN billing_runs r ON r.run_id = l.run_id
JOIN account_hierarchy h ON h.run_id = l.run_id AND h.customer_id = l.customer_id
GROUP BY ALL;

CREATE TABLE IF NOT EXISTS wallet_ledger (     -- prepaid credits: every movement, never edited
    run_id       VARCHAR NOT NULL,              -- the run that recorded it
    credit_id    VARCHAR NOT NULL,              -- the grant (credits.csv)
    customer_id  VARCHAR NOT NULL,              -- the wallet's account
    currency     VARCHAR NOT NULL,
    entry_date   DATE NOT NULL,                 -- granted_on, expires_on, or the invoice date
    kind         VARCHAR NOT NULL,              -- top_up | expired | consumed
    amount       DECIMAL(38,4) NOT NULL,        -- + top-up, - expired or consumed
    invoice_id   VARCHAR                        -- consumed: the invoice it paid
);

CREATE OR REPLACE VIEW wallet_history AS      -- each wallet's entries with the balance after each
SELECT *, sum(amount) OVER (
           PARTITION BY customer_id, currency
           ORDER BY entry_date, CASE kind WHEN 'top_up' THEN 0 WHEN 'expired' THEN 1 ELSE 2 END,
                    invoice_id, credit_id
           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS balance
FROM wallet_ledger;

CREATE OR REPLACE VIEW wallet_balances AS     -- what is left, per wallet and per grant
SELECT customer_id, currency, credit_id, sum(amount) AS balance,
       sum(amount) FILTER (WHERE kind = 'top_up') AS granted,
       -coalesce(sum(amount) FILTER (WHERE kind = 'consumed'), 0) AS consumed,
       -coalesce(sum(amount) FILTER (WHERE kind = 'expired'), 0) AS expired
FROM wallet_ledger GROUP BY ALL;

-- What is still set aside: every ingestion row, and for each billing period and customer
-- the rows of the last run that rated them (a later re-rating releases events that a
-- retroactive subscription now covers, and sets aside late events without one).
CREATE OR REPLACE VIEW quarantine_current AS
WITH ratings AS (
    SELECT billing_period, customer_id, run_id FROM period_inputs
    UNION
    SELECT billing_period, customer_id, run_id FROM quarantine WHERE run_id IS NOT NULL
), latest AS (
    SELECT k.billing_period, k.customer_id, arg_max(k.run_id, r.started_at) AS run_id
    FROM ratings k JOIN billing_runs r ON r.run_id = k.run_id
    GROUP BY ALL
)
SELECT q.* FROM quarantine q WHERE q.run_id IS NULL
UNION ALL
SELECT q.* FROM quarantine q
JOIN latest l ON l.run_id = q.run_id AND l.billing_period = q.billing_period
             AND l.customer_id = q.customer_id;
