//! The unified API's planners: `dynamic/<route>` requests (walked lazily,
//! see [`super::routed`]), one translated step for every other unified
//! request, and Universal steps whose provider is `compat`.

use super::Caller;
use crate::error::{Error, Result};
use crate::plan::controls::{FeatureControls, split_controls};
use crate::plan::step::{Plan, PlanContext, PlanInput, PlannedStep, Planner, Under, merge_headers};
use crate::plan::universal::Step;

/// The unified API's planners, asked for `compat/...` paths only: routed
/// requests first, then every other unified request.
pub const PLANNERS: Under = Under {
    prefix: "compat/",
    planners: &[&RoutedPlanner, &UnifiedPlanner],
};

/// `compat/...` requests whose model is `dynamic/<route>`.
pub struct RoutedPlanner;

/// Every other `compat/...` request, and Universal steps of provider `compat`.
pub struct UnifiedPlanner;

fn drop_params(ctx: &PlanContext<'_>, plan: &Plan) -> bool {
    plan.features.drop_params.unwrap_or(ctx.config.drop_params)
}

impl Planner for RoutedPlanner {
    fn plan(
        &self,
        ctx: &PlanContext<'_>,
        input: &mut PlanInput<'_>,
        plan: &mut Plan,
    ) -> Result<bool> {
        match Caller::for_path(input.path) {
            Some(caller) => plan_routed(ctx, input, plan, caller),
            None => Ok(false),
        }
    }
}

fn plan_routed(
    ctx: &PlanContext<'_>,
    input: &PlanInput<'_>,
    plan: &mut Plan,
    caller: Caller,
) -> Result<bool> {
    let Some(routed) = super::routed::plan(
        ctx.router,
        caller,
        input.body,
        &input.forward,
        drop_params(ctx, plan),
        &input.base.resolve(),
        plan.features.metadata.as_ref(),
    )?
    else {
        return Ok(false);
    };
    plan.route = Some(std::sync::Arc::new(routed));
    Ok(true)
}

impl Planner for UnifiedPlanner {
    fn plan(
        &self,
        ctx: &PlanContext<'_>,
        input: &mut PlanInput<'_>,
        plan: &mut Plan,
    ) -> Result<bool> {
        match Caller::for_path(input.path) {
            Some(caller) => plan_unified(ctx, input, plan, caller),
            None => Ok(false),
        }
    }

    /// A Universal step with provider `compat`: its endpoint names the
    /// unified format, its query is the unified request.
    fn plan_universal_step(
        &self,
        ctx: &PlanContext<'_>,
        input: &PlanInput<'_>,
        features: &FeatureControls,
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
            .or(features.drop_params)
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

fn plan_unified(
    ctx: &PlanContext<'_>,
    input: &mut PlanInput<'_>,
    plan: &mut Plan,
    caller: Caller,
) -> Result<bool> {
    let step = super::plan_step(
        ctx.providers,
        ctx.config,
        caller,
        input.body,
        std::mem::take(&mut input.forward),
        drop_params(ctx, plan),
        0,
        input.base.resolve(),
    )?;
    // One step, allocated for one (a push would allocate for four).
    plan.steps = vec![step];
    Ok(true)
}
