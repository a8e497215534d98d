//! The ticket forms as posted: the new-ticket form with its photo (multipart), and what
//! a ticket page posts.

use super::*;

/// The new-ticket form as typed, kept to show it again with its errors.
#[derive(Default, Clone)]
pub(super) struct TicketForm {
    pub(super) csrf: String,
    pub(super) idem: String,
    pub(super) category: String,
    pub(super) priority: String,
    pub(super) community_id: String,
    /// The place the community list was narrowed to (where a scope holds too many).
    pub(super) within: String,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) address: String,
    pub(super) latitude: String,
    pub(super) longitude: String,
    pub(super) resident_name: String,
    pub(super) resident_phone: String,
    pub(super) households: String,
    pub(super) channel: String,
    pub(super) hotline_ref: String,
}

impl TicketForm {
    pub(super) fn set(&mut self, name: &str, value: String) {
        let slot = match name {
            "csrf" => &mut self.csrf,
            "idem" => &mut self.idem,
            "category" => &mut self.category,
            "priority" => &mut self.priority,
            "community_id" => &mut self.community_id,
            "within" => &mut self.within,
            "title" => &mut self.title,
            "description" => &mut self.description,
            "address" => &mut self.address,
            "latitude" => &mut self.latitude,
            "longitude" => &mut self.longitude,
            "resident_name" => &mut self.resident_name,
            "resident_phone" => &mut self.resident_phone,
            "households" => &mut self.households,
            "channel" => &mut self.channel,
            "hotline_ref" => &mut self.hotline_ref,
            _ => return,
        };
        *slot = value;
    }

    /// The API's `NewTicket`, or the fields that could not even be read.
    pub(super) fn to_new_ticket(&self) -> Result<NewTicket, Vec<FieldError>> {
        let mut errors = Vec::new();
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        fn number<T: std::str::FromStr>(
            field: &str,
            value: &str,
            errors: &mut Vec<FieldError>,
        ) -> Option<T> {
            let value = value.trim();
            if value.is_empty() {
                return None;
            }
            value
                .parse()
                .map_err(|_| {
                    errors.push(FieldError::new(field, "invalid", "must be a number"));
                })
                .ok()
        }
        /// One of a closed vocabulary's words, or none when left blank.
        fn chosen<T: std::str::FromStr<Err = jiesu_core::types::UnknownVariant>>(
            field: &str,
            value: &str,
            errors: &mut Vec<FieldError>,
        ) -> Option<T> {
            match value.trim() {
                "" => None,
                word => word
                    .parse()
                    .map_err(|e: jiesu_core::types::UnknownVariant| {
                        errors.push(FieldError::new(field, "invalid", e.to_string()));
                    })
                    .ok(),
            }
        }
        let priority: Option<Priority> = chosen("priority", &self.priority, &mut errors);
        let channel: Option<IntakeChannel> = chosen("channel", &self.channel, &mut errors);
        let input = NewTicket {
            category: self.category.trim().to_owned(),
            priority,
            title: self.title.trim().to_owned(),
            description: self.description.trim().to_owned(),
            community_id: number::<i64>("community_id", &self.community_id, &mut errors)
                .map(OrgUnitId),
            grid_id: None,
            address: self.address.trim().to_owned(),
            latitude: number("latitude", &self.latitude, &mut errors),
            longitude: number("longitude", &self.longitude, &mut errors),
            resident_name: text(&self.resident_name),
            resident_phone: text(&self.resident_phone),
            households: number("households", &self.households, &mut errors).unwrap_or(1),
            channel,
            hotline_ref: text(&self.hotline_ref),
            hotline: None,
        };
        errors.extend(jiesu_core::validate::fields(&input));
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
    }
}

/// An uploaded photo: at most `max + 1` bytes are kept (the rest is read and dropped), so
/// the core's size check still sees that an oversized one is too large.
pub(super) struct Photo {
    pub(super) name: String,
    pub(super) bytes: Vec<u8>,
}

/// A multipart form (the new ticket, or a photo added to one) with at most one photo.
pub struct WithPhoto {
    pub(super) form: TicketForm,
    pub(super) photo: Option<Photo>,
}

impl FormBody for WithPhoto {
    fn read(
        req: &HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> LocalBoxFuture<'static, Result<Self, ConsoleError>> {
        let max = req
            .app_data::<web::Data<AppState>>()
            .map_or(0, |state| state.settings.attachments.max_bytes);
        let multipart = Multipart::new(req.headers(), payload.take());
        Box::pin(async move {
            let (form, photo) = read_form(multipart, max).await?;
            Ok(WithPhoto { form, photo })
        })
    }
    fn csrf(&self) -> &str {
        &self.form.csrf
    }
}

/// What a ticket page posts: one lifecycle action, or a photo (multipart).
pub enum ActBody {
    Photo(Box<WithPhoto>),
    Action(Box<ActForm>),
}

impl FormBody for ActBody {
    fn read(
        req: &HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> LocalBoxFuture<'static, Result<Self, ConsoleError>> {
        let is_multipart = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if is_multipart {
            let photo = WithPhoto::read(req, payload);
            Box::pin(async move { photo.await.map(|p| ActBody::Photo(Box::new(p))) })
        } else {
            let action = crate::console::session::read_urlencoded::<ActForm>(req, payload);
            Box::pin(async move { action.await.map(|form| ActBody::Action(Box::new(form))) })
        }
    }
    fn csrf(&self) -> &str {
        match self {
            ActBody::Photo(p) => p.csrf(),
            ActBody::Action(a) => &a.csrf,
        }
    }
}

/// Reads the multipart form: text fields up to 16 KiB each, the photo up to the limit
/// (the rest is read and dropped, so the browser gets the form back, not a reset).
pub(super) async fn read_form(
    mut form: Multipart,
    max: usize,
) -> Result<(TicketForm, Option<Photo>), ConsoleError> {
    const TEXT_MAX: usize = 16 * 1024;
    const DRAIN_MAX: usize = 64 * 1024 * 1024;
    let mut out = TicketForm::default();
    let mut photo = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| ConsoleError::BadForm(e.to_string()))?;
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let limit = if name == "photo" { max + 1 } else { TEXT_MAX };
        let mut bytes = Vec::new();
        let mut size = 0usize;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| ConsoleError::BadForm(e.to_string()))?;
            size += chunk.len();
            if size > DRAIN_MAX {
                return Err(ConsoleError::BadForm("the upload is far too large".into()));
            }
            let room = limit.saturating_sub(bytes.len());
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        if name == "photo" {
            if !bytes.is_empty() {
                photo = Some(Photo {
                    name: file_name.unwrap_or_else(|| "photo".into()),
                    bytes,
                });
            }
        } else {
            let value = String::from_utf8(bytes)
                .map_err(|_| ConsoleError::BadForm(format!("{name} is not UTF-8 text")))?;
            // The edge's rule for text (multipart forms pass it unread).
            jiesu_core::validate::clean_text(&name, &value)
                .map_err(|e| ConsoleError::BadForm(format!("{}: {}", e.field, e.message)))?;
            out.set(&name, value);
        }
    }
    Ok((out, photo))
}
