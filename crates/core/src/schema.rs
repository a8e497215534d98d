// @generated automatically by Diesel CLI.

diesel::table! {
    categories (id) {
        id -> Int8,
        code -> Text,
        name_zh -> Text,
        name_en -> Text,
        default_priority -> Text,
        active -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    org_unit_emails (org_unit_id, email) {
        org_unit_id -> Int8,
        email -> Text,
    }
}

diesel::table! {
    org_units (id) {
        id -> Int8,
        parent_id -> Nullable<Int8>,
        kind -> Text,
        name -> Text,
        code -> Text,
        path -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    partner_categories (partner_id, category_id) {
        partner_id -> Int8,
        category_id -> Int8,
    }
}

diesel::table! {
    partner_communities (partner_id, org_unit_id) {
        partner_id -> Int8,
        org_unit_id -> Int8,
    }
}

diesel::table! {
    partners (id) {
        id -> Int8,
        name -> Text,
        kind -> Text,
        contact_email -> Text,
        contact_phone -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sla_policies (category_id, priority) {
        category_id -> Int8,
        priority -> Text,
        respond_minutes -> Int4,
        resolve_minutes -> Int4,
        clock -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        username -> Text,
        display_name -> Text,
        email -> Nullable<Text>,
        password_hash -> Text,
        role -> Text,
        org_unit_id -> Nullable<Int8>,
        partner_id -> Nullable<Int8>,
        active -> Bool,
        failed_logins -> Int4,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(org_unit_emails -> org_units (org_unit_id));
diesel::joinable!(partner_categories -> categories (category_id));
diesel::joinable!(partner_categories -> partners (partner_id));
diesel::joinable!(partner_communities -> org_units (org_unit_id));
diesel::joinable!(partner_communities -> partners (partner_id));
diesel::joinable!(sla_policies -> categories (category_id));
diesel::joinable!(users -> org_units (org_unit_id));
diesel::joinable!(users -> partners (partner_id));

diesel::allow_tables_to_appear_in_same_query!(
    categories,
    org_unit_emails,
    org_units,
    partner_categories,
    partner_communities,
    partners,
    sla_policies,
    users,
);
