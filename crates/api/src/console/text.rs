//! The console's words that are not markup: field labels and the sentences that explain
//! a refusal, in Chinese and English.

use jiesu_core::FieldError;

use super::layout::Lang;

pub(crate) fn field_label(lang: Lang, field: &str) -> &'static str {
    match field {
        "category" => lang.t("类别", "Category"),
        "priority" => lang.t("紧急程度", "Priority"),
        "channel" => lang.t("来源", "Came in by"),
        "hotline_ref" => lang.t("热线工单号", "Hotline's number"),
        "community_id" => lang.t("社区", "Community"),
        "title" => lang.t("事项", "Title"),
        "description" => lang.t("详细描述", "Description"),
        "address" => lang.t("地点", "Place"),
        "latitude" => lang.t("纬度", "Latitude"),
        "longitude" => lang.t("经度", "Longitude"),
        "resident_name" => lang.t("居民姓名", "Resident's name"),
        "resident_phone" => lang.t("居民电话", "Resident's phone"),
        "households" => lang.t("涉及户数", "Households"),
        "photo" | "file" => lang.t("照片", "Photo"),
        "note" => lang.t("说明", "Note"),
        "reason" => lang.t("原因", "Reason"),
        "satisfaction" => lang.t("满意度", "Satisfaction"),
        "partner_id" => lang.t("共建单位", "Partner unit"),
        "confirm" => lang.t("确认", "Confirmation"),
        "into" => lang.t("并入的工单", "The ticket to merge into"),
        _ => lang.t("内容", "Input"),
    }
}

/// The new-ticket form's fields in the order the form shows them: its list of errors at
/// the top follows it, so the first error listed is the first one met going down.
const TICKET_FORM_ORDER: [&str; 14] = [
    "category",
    "priority",
    "channel",
    "hotline_ref",
    "community_id",
    "title",
    "description",
    "address",
    "latitude",
    "longitude",
    "resident_name",
    "resident_phone",
    "households",
    "photo",
];

/// Where a field comes in the new-ticket form (`file` is the photo; unknown ones last).
pub(crate) fn form_position(field: &str) -> usize {
    let field = if field == "file" { "photo" } else { field };
    TICKET_FORM_ORDER
        .iter()
        .position(|f| *f == field)
        .unwrap_or(TICKET_FORM_ORDER.len())
}

pub(crate) fn size_label(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MB", bytes / (1024 * 1024))
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// A field's error in the page's language where we know the rule, else the core's words.
pub(crate) fn field_message(lang: Lang, e: &FieldError, max_bytes: usize) -> String {
    match (e.field.as_str(), e.code.as_str(), lang) {
        ("file" | "photo", "too_large", Lang::Zh) => {
            format!("照片太大：最大 {}。", size_label(max_bytes))
        }
        ("file" | "photo", "too_large", Lang::En) => {
            format!("The photo is too large: at most {}.", size_label(max_bytes))
        }
        ("file" | "photo", "unsupported_type", Lang::Zh) => {
            "只能上传 JPEG、PNG 或 WebP 格式的照片。".into()
        }
        ("file" | "photo", "unsupported_type", Lang::En) => {
            "Only JPEG, PNG and WebP photos can be uploaded.".into()
        }
        ("confirm", _, Lang::Zh) => "请勾选确认：此操作不能撤销。".into(),
        ("hotline_ref", "required", Lang::Zh) => "热线转办须填写热线工单号。".into(),
        ("hotline_ref", "not_hotline", Lang::Zh) => "只有热线转办才填写热线工单号。".into(),
        ("hotline_ref", "taken", Lang::Zh) => format!(
            "该热线工单已登记（{}）。",
            e.message.rsplit(' ').next().unwrap_or_default()
        ),
        (_, "required" | "blank", Lang::Zh) => "必填。".into(),
        (_, _, Lang::Zh) => format!("不符合要求（{}）", e.message),
        (_, _, Lang::En) => e.message.clone(),
    }
}

/// What the ticket page says after an action went through (`?done=`).
pub(crate) fn done_message(lang: Lang, done: &str) -> Option<&'static str> {
    Some(match done {
        "logged" => lang.t("工单已登记。", "The ticket is logged."),
        "claim" => lang.t(
            "认领成功，工单由本单位办理。",
            "Claimed: your unit now holds the ticket.",
        ),
        "progress" => lang.t("进展已记录。", "Progress noted."),
        "resolve" => lang.t("已办结，等待回访。", "Resolved; awaiting the return visit."),
        "feedback" => lang.t("回访已记录。", "Return visit recorded."),
        "dispatch" => lang.t("已派单。", "Dispatched."),
        "summon" => lang.t(
            "已吹哨，单位已被召集。",
            "Summoned: the unit has been called in.",
        ),
        "cancel" => lang.t("工单已作废。", "The ticket is cancelled."),
        "pause" => lang.t(
            "已转为等待居民，时限暂停计时。",
            "Waiting on the resident: the deadlines stand still.",
        ),
        "resume" => lang.t(
            "已恢复办理，时限顺延等待的时间。",
            "Resumed: the deadlines move on by the time waited.",
        ),
        "photo" => lang.t("照片已上传。", "Photo added."),
        "erased" => lang.t(
            "居民个人信息已删除，处理记录已留痕。",
            "The resident's data is erased; the timeline records it.",
        ),
        "merged" => lang.t(
            "已合并，本工单关闭，户数计入被并入的工单。",
            "Merged: this ticket is closed and its households count on the other.",
        ),
        "urged" => lang.t(
            "已催办，承办单位将收到邮件。",
            "Urged: the unit holding it is mailed.",
        ),
        _ => return None,
    })
}

/// What a "not found" names (`CoreError::NotFound`), in Chinese: the error page says it in
/// both languages, as it may come before the page's language is known.
pub(crate) fn thing_name(what: &str) -> &'static str {
    match what {
        "ticket" => "工单",
        "org unit" => "组织",
        "user" => "账号",
        "partner unit" => "共建单位",
        "category" => "类别",
        "attachment" => "照片",
        "need" => "需求",
        "resource" => "资源",
        "project" => "项目",
        "milestone" => "节点",
        "page" => "页面",
        _ => "内容",
    }
}
