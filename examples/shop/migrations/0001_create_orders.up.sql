-- The shop's orders. Each migration comes with its down file; `npx rewind db lint shop` checks them.
create table orders (
  id integer primary key,
  item text not null,
  quantity integer not null default 1
);
