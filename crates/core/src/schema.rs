// @generated automatically by Diesel CLI.

diesel::table! {
    attachments (id) {
        id -> Int8,
        ticket_id -> Int8,
        sha256 -> Text,
        content_type -> Text,
        size_bytes -> Int8,
        file_name -> Text,
        uploaded_by -> Int8,
        created_at -> Timestamp,
    }
}

diesel::table! {
    categories (id) {
        id -> Int8,
        code -> Text,
        name_zh -> Text,
        name_en -> Text,
        default_priority -> Text,
        active -> Bool,
        created_at -> Timestamp,
        group_name -> Text,
    }
}

diesel::table! {
    category_attributes (category_id) {
        category_id -> Int8,
        definition -> Text,
    }
}

diesel::table! {
    contact_reads (id) {
        id -> Int8,
        ticket_id -> Int8,
        user_id -> Int8,
        route -> Text,
        read_at -> Timestamp,
    }
}

diesel::table! {
    ended_sessions (sid) {
        sid -> Text,
        user_id -> Int8,
        ended_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    escalation_due (ticket_id) {
        ticket_id -> Int8,
        due_at -> Timestamp,
        window_due_at -> Nullable<Timestamp>,
        warn_for_due -> Nullable<Timestamp>,
        warn_from -> Nullable<Timestamp>,
        warn_at -> Nullable<Timestamp>,
        warn_point -> Nullable<Int4>,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Int8,
        key -> Text,
        request_hash -> Text,
        ticket_id -> Int8,
        created_at -> Timestamp,
    }
}

diesel::table! {
    need_tickets (ticket_id) {
        ticket_id -> Int8,
        need_id -> Int8,
    }
}

diesel::table! {
    needs (id) {
        id -> Int8,
        community_id -> Int8,
        org_path -> Text,
        category_id -> Int8,
        title -> Text,
        description -> Text,
        households -> Int4,
        urgency -> Text,
        status -> Text,
        source -> Text,
        published -> Bool,
        created_by -> Int8,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    open311_keys (id) {
        id -> Int8,
        channel -> Text,
        key_hash -> Text,
        key_prefix -> Text,
        account_id -> Int8,
        created_by -> Int8,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    open311_requests (ticket_id) {
        ticket_id -> Int8,
        key_id -> Int8,
        token -> Text,
        address_id -> Nullable<Text>,
        email -> Nullable<Text>,
        device_id -> Nullable<Text>,
        account_id -> Nullable<Text>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        media_url -> Nullable<Text>,
        attributes -> Text,
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
    org_unit_geo (org_unit_id) {
        org_unit_id -> Int8,
        centre_lat -> Nullable<Float8>,
        centre_long -> Nullable<Float8>,
        boundary -> Nullable<Text>,
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
    outbox (id) {
        id -> Int8,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        body -> Text,
        created_at -> Timestamp,
        attempts -> Int4,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
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
    project_events (id) {
        id -> Int8,
        project_id -> Int8,
        actor_id -> Nullable<Int8>,
        kind -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        note -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    project_milestones (id) {
        id -> Int8,
        project_id -> Int8,
        title -> Text,
        due_at -> Timestamp,
        done_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    projects (id) {
        id -> Int8,
        need_id -> Nullable<Int8>,
        resource_id -> Nullable<Int8>,
        owner_partner_id -> Int8,
        community_id -> Int8,
        org_path -> Text,
        title -> Text,
        status -> Text,
        due_at -> Timestamp,
        created_by -> Int8,
        version -> Int4,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    rates_statements (cohort, period_from, period_to) {
        cohort -> Text,
        period_from -> Timestamp,
        period_to -> Timestamp,
        figures -> Text,
        stored_at -> Timestamp,
    }
}

diesel::table! {
    rates_writes (id) {
        id -> Int2,
        changed -> Int8,
    }
}

diesel::table! {
    resource_communities (resource_id, org_unit_id) {
        resource_id -> Int8,
        org_unit_id -> Int8,
    }
}

diesel::table! {
    resources (id) {
        id -> Int8,
        partner_id -> Int8,
        category_id -> Nullable<Int8>,
        title -> Text,
        description -> Text,
        capacity -> Text,
        schedule -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    signin_throttle (key) {
        key -> Text,
        failures -> Int4,
        first_failure_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
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
    ticket_counters (district_id, year) {
        district_id -> Int8,
        year -> Int4,
        last_number -> Int8,
    }
}

diesel::table! {
    ticket_events (id) {
        id -> Int8,
        ticket_id -> Int8,
        actor_id -> Nullable<Int8>,
        kind -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        partner_id -> Nullable<Int8>,
        note -> Nullable<Text>,
        detail -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ticket_facts (ticket_id) {
        ticket_id -> Int8,
        org_path -> Text,
        created_at -> Timestamp,
        respond_by -> Nullable<Timestamp>,
        resolve_by -> Nullable<Timestamp>,
        first_claim -> Nullable<Timestamp>,
        first_resolve -> Nullable<Timestamp>,
        response_minutes -> Nullable<Int8>,
        resolution_minutes -> Nullable<Int8>,
        resolved -> Int2,
        satisfied -> Nullable<Int2>,
        holder -> Nullable<Int8>,
        ending -> Int2,
        reopened -> Int2,
        escalated -> Int2,
        last_event_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    ticket_intake (ticket_id) {
        ticket_id -> Int8,
        channel -> Text,
        hotline -> Nullable<Text>,
        hotline_ref -> Nullable<Text>,
    }
}

diesel::table! {
    ticket_pauses (ticket_id) {
        ticket_id -> Int8,
        paused_at -> Timestamp,
        reason -> Text,
        paused_by -> Int8,
        due_at -> Nullable<Timestamp>,
        window_due_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    ticket_redactions (ticket_id, reason) {
        ticket_id -> Int8,
        closed_at -> Nullable<Timestamp>,
        reason -> Text,
        redacted_at -> Timestamp,
        redacted_by -> Nullable<Int8>,
    }
}

diesel::table! {
    tickets (id) {
        id -> Int8,
        number -> Text,
        category_id -> Int8,
        priority -> Text,
        title -> Text,
        description -> Text,
        community_id -> Int8,
        grid_id -> Nullable<Int8>,
        org_path -> Text,
        address -> Text,
        latitude -> Nullable<Float8>,
        longitude -> Nullable<Float8>,
        resident_name -> Nullable<Text>,
        resident_phone -> Nullable<Text>,
        households -> Int4,
        status -> Text,
        partner_id -> Nullable<Int8>,
        in_pool -> Bool,
        level -> Int4,
        satisfaction -> Nullable<Text>,
        respond_by -> Nullable<Timestamp>,
        resolve_by -> Nullable<Timestamp>,
        responded_at -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        merged_into_id -> Nullable<Int8>,
        reopen_count -> Int4,
        return_count -> Int4,
        reported_by -> Int8,
        version -> Int4,
        created_at -> Timestamp,
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
        token_generation -> Int4,
    }
}

diesel::joinable!(attachments -> tickets (ticket_id));
diesel::joinable!(attachments -> users (uploaded_by));
diesel::joinable!(category_attributes -> categories (category_id));
diesel::joinable!(contact_reads -> tickets (ticket_id));
diesel::joinable!(contact_reads -> users (user_id));
diesel::joinable!(ended_sessions -> users (user_id));
diesel::joinable!(escalation_due -> tickets (ticket_id));
diesel::joinable!(idempotency_keys -> tickets (ticket_id));
diesel::joinable!(idempotency_keys -> users (user_id));
diesel::joinable!(need_tickets -> needs (need_id));
diesel::joinable!(need_tickets -> tickets (ticket_id));
diesel::joinable!(needs -> categories (category_id));
diesel::joinable!(needs -> org_units (community_id));
diesel::joinable!(needs -> users (created_by));
diesel::joinable!(open311_requests -> open311_keys (key_id));
diesel::joinable!(open311_requests -> tickets (ticket_id));
diesel::joinable!(org_unit_emails -> org_units (org_unit_id));
diesel::joinable!(org_unit_geo -> org_units (org_unit_id));
diesel::joinable!(partner_categories -> categories (category_id));
diesel::joinable!(partner_categories -> partners (partner_id));
diesel::joinable!(partner_communities -> org_units (org_unit_id));
diesel::joinable!(partner_communities -> partners (partner_id));
diesel::joinable!(project_events -> projects (project_id));
diesel::joinable!(project_events -> users (actor_id));
diesel::joinable!(project_milestones -> projects (project_id));
diesel::joinable!(projects -> needs (need_id));
diesel::joinable!(projects -> org_units (community_id));
diesel::joinable!(projects -> partners (owner_partner_id));
diesel::joinable!(projects -> resources (resource_id));
diesel::joinable!(projects -> users (created_by));
diesel::joinable!(resource_communities -> org_units (org_unit_id));
diesel::joinable!(resource_communities -> resources (resource_id));
diesel::joinable!(resources -> categories (category_id));
diesel::joinable!(resources -> partners (partner_id));
diesel::joinable!(sla_policies -> categories (category_id));
diesel::joinable!(ticket_counters -> org_units (district_id));
diesel::joinable!(ticket_events -> partners (partner_id));
diesel::joinable!(ticket_events -> tickets (ticket_id));
diesel::joinable!(ticket_events -> users (actor_id));
diesel::joinable!(ticket_facts -> tickets (ticket_id));
diesel::joinable!(ticket_intake -> tickets (ticket_id));
diesel::joinable!(ticket_pauses -> tickets (ticket_id));
diesel::joinable!(ticket_pauses -> users (paused_by));
diesel::joinable!(ticket_redactions -> tickets (ticket_id));
diesel::joinable!(ticket_redactions -> users (redacted_by));
diesel::joinable!(tickets -> categories (category_id));
diesel::joinable!(tickets -> partners (partner_id));
diesel::joinable!(tickets -> users (reported_by));
diesel::joinable!(users -> org_units (org_unit_id));
diesel::joinable!(users -> partners (partner_id));

diesel::allow_tables_to_appear_in_same_query!(
    attachments,
    categories,
    category_attributes,
    contact_reads,
    ended_sessions,
    escalation_due,
    idempotency_keys,
    need_tickets,
    needs,
    open311_keys,
    open311_requests,
    org_unit_emails,
    org_unit_geo,
    org_units,
    outbox,
    partner_categories,
    partner_communities,
    partners,
    project_events,
    project_milestones,
    projects,
    rates_statements,
    rates_writes,
    resource_communities,
    resources,
    signin_throttle,
    sla_policies,
    ticket_counters,
    ticket_events,
    ticket_facts,
    ticket_intake,
    ticket_pauses,
    ticket_redactions,
    tickets,
    users,
);
