//! The unified API's planners: `dynamic/<route>` requests (walked lazily,
//! see [`super::routed`]), one translated step for every other unified
//! request, and Universal steps whose provider is `compat`.

use super::Caller;
use crate::error::{Error, Result};
use crate::plan::controls::split_controls;
use crate::plan::step::{Plan, PlanContext, PlanInput, PlannedStep, Planner, merge_headers};
use crate::plan::universal::Step;

/// `compat/...` requests whose model is `dynamic/<route>`.
pub struct RoutedPlanner;

/// Every other `compat/...` request, and Universal steps of provider `compat`.
pub struct UnifiedPlanner;

fn drop_params(ctx: &PlanContext<'_>, input: &PlanInput<'_>) -> bool {
    input.features.drop_params.unwrap_or(ctx.config.drop_params)
}

impl Planner for RoutedPlanner {
    fn plan(&self, ctx: &PlanContext<'_>, input: &mut PlanInput<'_>) -> Result<Option<Plan>> {
        let Some(caller) = Caller::for_path(input.path) else {
            return Ok(None);
        };
        let Some(routed) = super::routed::plan(
            ctx.router,
            caller,
            input.body,
            &input.forward,
            drop_params(ctx, input),
            &input.base.resolve(),
            input.features.metadata.as_ref(),
        )?
        else {
            return Ok(None);
        };
        let mut plan = Plan::of(Vec::new(), false, std::mem::take(&mut input.features));
        plan.route = Some(std::sync::Arc::new(routed));
        Ok(Some(plan))
    }
}

impl Planner for UnifiedPlanner {
    fn plan(&self, ctx: &PlanContext<'_>, input: &mut PlanInput<'_>) -> Result<Option<Plan>> {
        let Some(caller) = Caller::for_path(input.path) else {
            return Ok(None);
        };
        let step = super::plan_step(
            ctx.providers,
            ctx.config,
            caller,
            input.body,
            std::mem::take(&mut input.forward),
            drop_params(ctx, input),
            0,
            input.base.resolve(),
        )?;
        let features = std::mem::take(&mut input.features);
        Ok(Some(Plan::of(vec![step], false, features)))
    }

    /// A Universal step with provider `compat`: its endpoint names the
    /// unified format, its query is the unified request.
    fn plan_universal_step(
        &self,
        ctx: &PlanContext<'_>,
        input: &PlanInput<'_>,
        step: &Step,
        index: usize,
    ) -> Result<Option<PlannedStep>> {
        if step.provider != "compat" {
            return Ok(None);
        }
        let caller = Caller::for_endpoint(&step.endpoint).ok_or_else(|| {
            Error::invalid_request(format!(
                "compat endpoint {:?} is not chat/completions, embeddings or messages",
                step.endpoint
            ))
        })?;
        let (header_controls, step_headers) = split_controls(&step.headers)?;
        let settings = input
            .base
            .over(&header_controls.retry)
            .over(&step.config)
            .resolve();
        let body = step.body.clone().unwrap_or_default();
        let drop = header_controls
            .features
            .drop_params
            .or(input.features.drop_params)
            .unwrap_or(ctx.config.drop_params);
        super::plan_step(
            ctx.providers,
            ctx.config,
            caller,
            &body,
            merge_headers(&input.forward, &step_headers),
            drop,
            index,
            settings,
        )
        .map(Some)
    }
}
