-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION order_total(p_order bigint) RETURNS numeric AS $$
  SELECT coalesce(sum(amount), 0) FROM order_lines WHERE order_id = p_order;
$$ LANGUAGE sql STABLE;
-- +goose StatementEnd
