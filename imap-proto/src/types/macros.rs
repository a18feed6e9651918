//! `IntoStatic` boilerplate for structs and enums whose fields all implement it.

macro_rules! into_static_struct {
    ($name:ident { $($field:ident),* $(,)? }) => {
        impl $crate::types::core::IntoStatic for $name<'_> {
            type Static = $name<'static>;
            fn into_static(self) -> $name<'static> {
                $name { $($field: $crate::types::core::IntoStatic::into_static(self.$field)),* }
            }
        }
    };
}

macro_rules! into_static_enum {
    ($name:ident { $( $variant:ident $( ( $($t:ident),* ) )? $( { $($f:ident),* } )? ),* $(,)? }) => {
        impl $crate::types::core::IntoStatic for $name<'_> {
            type Static = $name<'static>;
            #[allow(clippy::too_many_lines)]
            fn into_static(self) -> $name<'static> {
                match self {
                    $(
                        $name::$variant $( ( $($t),* ) )? $( { $($f),* } )? =>
                            $name::$variant
                                $( ( $($crate::types::core::IntoStatic::into_static($t)),* ) )?
                                $( { $($f: $crate::types::core::IntoStatic::into_static($f)),* } )?
                    ),*
                }
            }
        }
    };
}

pub(crate) use into_static_enum;
pub(crate) use into_static_struct;
