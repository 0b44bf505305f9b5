-- Expand: a nullable column; the running revision keeps working without it.
alter table orders add column gift_note text;
