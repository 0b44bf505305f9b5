alter table "posts" rename to "articles";
