//! What `SendMessage` refuses: a body or string attribute value holding a
//! character SQS does not carry.

use crate::backend::SendMessage;

/// SQS's answer to a message holding a character outside `#x9 | #xA | #xD |
/// #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF` (error code
/// `InvalidMessageContents`). Names where the character is and its code
/// point, never the text around it (it may be a customer's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "InvalidMessageContents: the message {part} contains U+{code_point:04X}, outside the characters SQS allows"
)]
pub struct InvalidMessageContents {
    /// `body` or `attribute NAME`.
    pub part: String,
    /// The first refused character.
    pub code_point: u32,
}

/// Refuses `message` as `SendMessage` does when its body or a string
/// attribute value holds a character SQS cannot carry.
pub(super) fn check_contents(message: &SendMessage) -> Result<(), InvalidMessageContents> {
    let refused = |text: &str| {
        text.chars()
            .find(|c| !orders_domain::model::is_queue_safe(*c))
    };
    if let Some(c) = refused(&message.body) {
        return Err(InvalidMessageContents {
            part: "body".to_owned(),
            code_point: u32::from(c),
        });
    }
    // Sorted, so the error names the same attribute whatever the map's order.
    let mut names: Vec<&String> = message.message_attributes.keys().collect();
    names.sort();
    for name in names {
        if let Some(c) = message
            .message_attributes
            .get(name)
            .and_then(|v| refused(v))
        {
            return Err(InvalidMessageContents {
                part: format!("attribute {name}"),
                code_point: u32::from(c),
            });
        }
    }
    Ok(())
}
