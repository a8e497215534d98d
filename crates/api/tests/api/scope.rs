//! What each role sees: outside one's scope a resource is 404, and lists hold only the scope.

use std::collections::BTreeSet;

use crate::helpers::{StatusCode, Store, TestApp};

fn names(items: &[serde_json::Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_street_supervisor_sees_only_its_street(store: Store) {
    let app = TestApp::spawn(store).await;
    let supervisor = app.login("demo-supervisor").await; // 望京街道
    let own_community = app.org_id("花家地北里社区").await;
    let other_street_community = app.org_id("和平街一社区").await;
    let other_district_street = app.org_id("中关村街道").await;
    let district = app.org_id("朝阳区").await;

    let (status, _) = app
        .get(&format!("/api/v1/org-units/{own_community}"), &supervisor)
        .await;
    assert_eq!(status, StatusCode::OK);
    for hidden in [other_street_community, other_district_street, district] {
        let (status, body) = app
            .get(&format!("/api/v1/org-units/{hidden}"), &supervisor)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "org unit {hidden}: {body}");
        assert_eq!(body["status"], 404);
    }
    let seen = app.all("/api/v1/org-units", &supervisor).await;
    // The street, its two communities and their three grids each.
    assert_eq!(seen.len(), 1 + 2 + 6, "{:?}", names(&seen));
    assert!(names(&seen).contains("望京街道"));
    assert!(!names(&seen).contains("和平街一社区"));

    // Partner units: those serving its street, not Haidian's.
    let partners = names(&app.all("/api/v1/partners", &supervisor).await);
    assert!(
        partners.contains("望京宜居物业服务有限公司"),
        "{partners:?}"
    );
    assert!(!partners.contains("海淀区城市管理委员会"), "{partners:?}");
    let haidian_only = app.partner_id("海淀区城市管理委员会").await;
    let (status, _) = app
        .get(&format!("/api/v1/partners/{haidian_only}"), &supervisor)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_district_supervisor_sees_its_streets_but_not_the_other_district(store: Store) {
    let app = TestApp::spawn(store).await;
    let district = app.login("demo-district").await; // 朝阳区
    let seen = names(&app.all("/api/v1/org-units?kind=street", &district).await);
    assert_eq!(
        seen,
        BTreeSet::from(["望京街道".to_owned(), "和平街街道".to_owned()])
    );
    let haidian = app.org_id("科源社区").await;
    let (status, _) = app
        .get(&format!("/api/v1/org-units/{haidian}"), &district)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_grid_member_sees_its_community_and_unit_staff_their_unit(store: Store) {
    let app = TestApp::spawn(store).await;
    let grid = app.login("demo-grid").await; // 望京西园一区社区, grid 1
    let seen = names(&app.all("/api/v1/org-units", &grid).await);
    assert!(
        seen.contains("望京西园一区社区") && seen.contains("第3网格"),
        "{seen:?}"
    );
    assert_eq!(
        seen.len(),
        4,
        "its community and that community's three grids: {seen:?}"
    );
    let neighbour = app.org_id("花家地北里社区").await;
    let (status, _) = app
        .get(&format!("/api/v1/org-units/{neighbour}"), &grid)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let unit = app.login("demo-unit").await; // 望京宜居物业
    let own = app.partner_id("望京宜居物业服务有限公司").await;
    let partners = app.all("/api/v1/partners", &unit).await;
    assert_eq!(partners.len(), 1);
    assert_eq!(partners[0]["id"], own);
    let other = app.partner_id("望京社区卫生服务中心").await;
    let (status, _) = app.get(&format!("/api/v1/partners/{other}"), &unit).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Unit staff see the communities they serve.
    let communities = names(&app.all("/api/v1/org-units", &unit).await);
    assert_eq!(
        communities,
        BTreeSet::from(["望京西园一区社区".to_owned(), "花家地北里社区".to_owned()])
    );
}

crate::on_both_stores!(
    a_street_supervisor_sees_only_its_street,
    a_district_supervisor_sees_its_streets_but_not_the_other_district,
    a_grid_member_sees_its_community_and_unit_staff_their_unit,
);
