alter table orders drop column gift_note;
