-- The app's earlier migrations, as one file: every corpus file is linted as the next migration
-- after this one (Rewind reads column types from earlier migrations). Not labelled, not linted.
CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100) NOT NULL, name varchar(50), age integer, bio text, legacy_flag boolean, status text);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, amount numeric(10, 2), reference text, status varchar(20) DEFAULT 'pending', note text, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE TABLE sessions (id bigint PRIMARY KEY, user_id bigint, expires_at timestamptz);
CREATE TABLE bookings (id bigint PRIMARY KEY, room_id bigint, during tstzrange);
CREATE TABLE audit_log (id bigint, action text);
CREATE TABLE settings (key text PRIMARY KEY, value text);
CREATE TABLE coupons (id bigint PRIMARY KEY, code text);
CREATE TABLE order_lines (id bigint PRIMARY KEY, order_id bigint, amount numeric(10, 2));
CREATE TABLE legacy_reports (id bigint PRIMARY KEY);
CREATE TABLE app_customer (id bigint PRIMARY KEY, name text);
CREATE TABLE app_order (id bigint PRIMARY KEY, amount numeric(10, 2), created_at timestamptz);
CREATE TABLE app_product (id bigint PRIMARY KEY, price numeric(10, 2), legacy_code text);
CREATE TABLE posts (id bigint PRIMARY KEY, body text, published_at timestamptz);
CREATE TABLE comments (id bigint PRIMARY KEY, body text);
CREATE TABLE "User" (id integer PRIMARY KEY, email text, nickname text);
CREATE TABLE accounts (id bigint PRIMARY KEY, email text, is_active boolean, legacy_plan text);
CREATE MATERIALIZED VIEW order_totals_mv AS SELECT user_id, sum(amount) AS total FROM orders GROUP BY user_id;
CREATE TABLE measurements (id bigint, at timestamptz NOT NULL, value double precision) PARTITION BY RANGE (at);
CREATE TABLE measurements_2027 (id bigint, at timestamptz NOT NULL, value double precision);
CREATE DOMAIN positive_amount AS numeric(10, 2);
CREATE TABLE measurements_2028 (id bigint, at timestamptz NOT NULL, value double precision);
