-- 0001_invoices: gap-free invoice numbers per operator (issue 15).
-- Times are microseconds since the epoch, UTC, as in central/store.

CREATE TABLE invoice_counters (
    operator    TEXT PRIMARY KEY,
    last_number INTEGER NOT NULL CHECK (last_number > 0)
) STRICT;

CREATE TABLE invoices (
    operator    TEXT NOT NULL,
    number      INTEGER NOT NULL CHECK (number > 0),
    session     TEXT NOT NULL UNIQUE,
    issued_at   INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    gross_minor INTEGER NOT NULL,
    net_minor   INTEGER NOT NULL,
    vat_minor   INTEGER NOT NULL,
    vat_rate_bp INTEGER NOT NULL,
    receipt     TEXT NOT NULL,
    PRIMARY KEY (operator, number)
) STRICT;
