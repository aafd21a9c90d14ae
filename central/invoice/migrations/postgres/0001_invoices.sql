-- 0001_invoices: gap-free invoice numbers per operator (issue 15).

-- The last number issued per operator; the row is the allocation lock.
CREATE TABLE invoice_counters (
    operator    text PRIMARY KEY,
    last_number bigint NOT NULL CHECK (last_number > 0)
);

CREATE TABLE invoices (
    operator    text NOT NULL,
    number      bigint NOT NULL CHECK (number > 0),
    session     text NOT NULL UNIQUE, -- one invoice per session
    issued_at   timestamptz NOT NULL,
    currency    text NOT NULL,
    gross_minor bigint NOT NULL,
    net_minor   bigint NOT NULL,
    vat_minor   bigint NOT NULL,
    vat_rate_bp integer NOT NULL,
    receipt     jsonb NOT NULL,
    PRIMARY KEY (operator, number)
);
